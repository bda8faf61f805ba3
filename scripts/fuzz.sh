#!/usr/bin/env bash
# Builds the libFuzzer targets (clang-14, ASan+UBSan) and runs each for FUZZ_SECONDS (default 60)
# on a temporary copy of its seed corpus. Fails on any crash, leak, timeout, out-of-memory or
# sanitizer report, and keeps the offending input under $build/crashes/<target>/ so it can be
# added to test/fuzz/corpus/<target>/ as a regression input. Prints executions per target.
#
# Usage: scripts/fuzz.sh [target...]   (default: every target)
# Options: FUZZ_SECONDS, FUZZ_BUILD_DIR (default build-fuzz), FUZZ_KEEP_CORPUS=1 to keep the grown
# corpora under $build/grown/ (for minimising into the repository by hand).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=${FUZZ_SECONDS:-60}
all=(frame_decoder msg_server_session client_session http_session config capture_reader
  network_table registry_routing prometheus_label handover_channel)
targets=("${@:-${all[@]}}")

if ! command -v clang++-14 >/dev/null; then
  echo "fuzz: clang++-14 is missing; run scripts/bootstrap.sh" >&2
  exit 1
fi
CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$build" -G Ninja -DTTLOGIN_FUZZ=ON \
  -DTTLOGIN_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target "${targets[@]/%/_fuzz}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
summary=()
for t in "${targets[@]}"; do
  corpus="$work/corpus-$t"
  artifacts="$build/crashes/$t"
  rm -rf "$artifacts"
  mkdir -p "$corpus" "$artifacts"
  cp -r "$root/test/fuzz/corpus/$t/." "$corpus/"
  dict=()
  [ -f "$root/test/fuzz/dict/$t.dict" ] && dict=(-dict="$root/test/fuzz/dict/$t.dict")
  log="$build/fuzz-$t.log"
  echo "fuzz: $t for ${seconds} s"
  rc=0
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb bounds memory per input.
  "$build/test/fuzz/${t}_fuzz" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "${dict[@]}" "$corpus" >"$log" 2>&1 ||
    rc=$?
  execs=$(awk '/stat::number_of_executed_units:/ {print $2}' "$log" | tail -1)
  speed=$(awk '/stat::average_exec_per_sec:/ {print $2}' "$log" | tail -1)
  files=$(find "$corpus" -type f | wc -l)
  crashes=$(find "$artifacts" -type f | wc -l)
  line=$(printf '%-20s %12s execs %8s/s  corpus %5s  crashes %s' "$t" "${execs:-?}" \
    "${speed:-?}" "$files" "$crashes")
  summary+=("$line")
  if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ] || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$log"; then
    failed+=("$t")
    echo "fuzz: $t FAILED (exit $rc); last lines of $log:" >&2
    tail -40 "$log" >&2
    echo "fuzz: inputs kept in $artifacts; add each to test/fuzz/corpus/$t/ as regress-<name>" >&2
  fi
  if [ "${FUZZ_KEEP_CORPUS:-0}" = 1 ]; then
    mkdir -p "$build/grown"
    rm -rf "$build/grown/$t"
    cp -r "$corpus" "$build/grown/$t"
  fi
done

echo
echo "fuzz: ${seconds} s per target"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: no crash, leak or sanitizer report"
