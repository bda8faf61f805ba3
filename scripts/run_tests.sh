#!/usr/bin/env bash
# Installs what is missing, builds everything and runs the whole test suite with ctest.
# Options: BUILD_DIR (default build), CMAKE_ARGS (extra cmake arguments), CTEST_ARGS.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
"$root/scripts/bootstrap.sh"
# shellcheck disable=SC2086
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo ${CMAKE_ARGS:-} >/dev/null
cmake --build "$build"
cd "$build"
# shellcheck disable=SC2086
ctest --output-on-failure -j2 --timeout 300 ${CTEST_ARGS:-}
