#!/usr/bin/env bash
# scripts/routing_table.sh: the docs/ROUTING.md table, from one command.
#
# Runs the cluster simulation of load_replay (the real MsgServerRegistry, one per login server,
# in simulated time; see docs/ROUTING.md) on one flash-crowd scenario for every routing
# configuration, and prints the Markdown table with the command, machine and date.
#
#   scripts/routing_table.sh                  # 100,000 logins, 4 login servers, 50 msg_servers
#   scripts/routing_table.sh --logins 20000   # any option is passed to every simulation
#
# Options: --build-dir DIR (default build-routing; load_replay is built there if missing),
#          --seed N (default 1; the scenario and the registries' random choices), and any
#          load_replay --simulate option (--login-servers, --msg-servers, --logins, --crowd-ms,
#          --update-latency-ms, --connect-delay-ms, --late-joiners).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="$ROOT/build-routing"
SEED=1
HOLD=300
SLOW_START=10
PASS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build-dir) BUILD_DIR="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) PASS+=("$1" "$2"); shift 2 ;;
  esac
done

TOOL="$BUILD_DIR/tools/load_replay/load_replay"
if [[ ! -x "$TOOL" ]]; then
  [[ -f "$BUILD_DIR/build.ninja" ]] || cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD_DIR" --target load_replay >/dev/null
fi

BASE=(--simulate flash-crowd --seed "$SEED" "${PASS[@]}")
CONFIGS=(
  "least_count|--policy least_count"
  "least_count + hold ${HOLD} ms|--policy least_count --hold $HOLD"
  "least_ratio|--policy least_ratio"
  "least_ratio + hold ${HOLD} ms|--policy least_ratio --hold $HOLD"
  "p2c|--policy p2c"
  "p2c + hold ${HOLD} ms|--policy p2c --hold $HOLD"
  "least_ratio + slow start ${SLOW_START} s|--policy least_ratio --slow-start $SLOW_START"
  "p2c + slow start ${SLOW_START} s + hold ${HOLD} ms|--policy p2c --slow-start $SLOW_START --hold $HOLD"
)

echo "Command: \`scripts/routing_table.sh${*:+ $*}\` (each row: \`load_replay ${BASE[*]} ROUTING\`)"
echo
echo "Machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1); $(uname -sr); $(date -u +%Y-%m-%d)"
echo
# The first run's summary says what was simulated.
first=1
rows=()
for entry in "${CONFIGS[@]}"; do
  label="${entry%%|*}"
  read -r -a routing <<<"${entry#*|}"
  out="$("$TOOL" "${BASE[@]}" "${routing[@]}" --markdown-row "$label")" || {
    echo "routing_table: the simulation failed for $label:" >&2
    echo "$out" >&2
    exit 1
  }
  if [[ $first -eq 1 ]]; then
    echo "Scenario: $(sed -n 's/^simulation: //p' <<<"$out" | sed 's/; policy.*//'); logins: $(sed -n 's/^logins: \([0-9]* over [0-9.]* s\).*/\1/p' <<<"$out")."
    echo
    first=0
  fi
  rows+=("$(grep '^| ' <<<"$out")")
done
printf '%s\n' "| routing | mid-crowd max/mean | mid-crowd CV | end max/mean | end CV | filled | herd | late joiners' 1st s | refused |"
printf '%s\n' "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
