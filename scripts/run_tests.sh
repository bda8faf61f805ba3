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
# shellcheck disable=SC2086
# A failed test gets one more try (reported by ctest); a test that fails twice fails the run.
ctest --output-on-failure -j2 --timeout 300 --repeat until-pass:2 ${CTEST_ARGS:-}
