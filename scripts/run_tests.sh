#!/usr/bin/env bash
# Installs what is missing, builds everything and runs the whole test suite with ctest.
# Options (environment): BUILD_DIR (default build), CMAKE_ARGS (extra cmake arguments),
# BUILD_TARGETS (default: everything), CTEST_ARGS (e.g. -L integration).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
"$root/scripts/bootstrap.sh"
# shellcheck disable=SC2086
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo ${CMAKE_ARGS:-} >/dev/null
# shellcheck disable=SC2086
cmake --build "$build" ${BUILD_TARGETS:+--target $BUILD_TARGETS}
cd "$build"
# No retry: a test that fails once fails the run (a flaky test is a bug to fix, not to hide).
# shellcheck disable=SC2086
ctest --output-on-failure -j2 --timeout 300 ${CTEST_ARGS:-}
