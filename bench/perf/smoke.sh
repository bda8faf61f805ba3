#!/usr/bin/env bash
# Smoke test of the benchmark's load scenarios: every scenario of scripts/bench.sh that
# uses our own loadgen runs at tiny scale against a real login_server on loopback. It checks that
# each one still RUNS and reports figures; it never judges the figures (not a timed test).
# Usage: smoke.sh LOGIN_SERVER LOADGEN
set -euo pipefail
SERVER="$1"
LOADGEN="$2"
WORK="$(mktemp -d /tmp/ttlogin-perf-smoke.XXXXXX)"
SERVER_PID=""
HOLD_PID=""
cleanup() {
  for pid in $HOLD_PID $SERVER_PID; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "perf smoke: FAIL: $*" >&2; [[ -f $WORK/server.log ]] && tail -5 "$WORK/server.log" >&2; exit 1; }

# shellcheck source=../../scripts/lib/loopback_server.sh
source "$(dirname "$0")/../../scripts/lib/loopback_server.sh"
write_loopback_config "$WORK/loginserver.conf" IoThreads=1
"$SERVER" -c "$WORK/loginserver.conf" --ready-file "$WORK/ready.json" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
wait_until_ready "$WORK/ready.json" "$SERVER_PID" || fail "login_server did not start"
HTTP=$(ready_port "$WORK/ready.json" http)
CLIENT=$(ready_port "$WORK/ready.json" client)
MS=$(ready_port "$WORK/ready.json" msg_server)

# run NAME CHECK_KEY LOADGEN-ARGS...: the scenario must exit 0 and print a RESULT line whose
# CHECK_KEY is a positive number.
run() {
  local name="$1" key="$2" out value
  shift 2
  out=$(timeout 60 "$LOADGEN" "$@" --server-pid "$SERVER_PID" 2>"$WORK/$name.err") ||
    { cat "$WORK/$name.err" >&2; fail "$name exited with an error: $out"; }
  value=$(sed -nE "s/^RESULT .* $key=([0-9.]+).*/\1/p" <<<"$out")
  awk -v v="$value" 'BEGIN { exit !(v + 0 > 0) }' || fail "$name: no positive $key in: $out"
  echo "perf smoke: $name ok ($key=$value)"
}

# Update scenarios first: they need the registry to themselves.
run updates_one updates_per_s updates --http-port "$HTTP" --ms-port "$MS" --conns 1 --updates 2000 --timeout 20
run updates_many updates_per_s updates --http-port "$HTTP" --ms-port "$MS" --conns 4 --updates 1000 --timeout 20
run mixed updates_per_s mixed --http-port "$HTTP" --ms-port "$MS" --conns 4 --ms-conns 2 --updates 20000 \
  --warmup 0.1 --timeout 20

"$LOADGEN" hold --ms-port "$MS" --max-seconds 120 >"$WORK/hold.log" 2>&1 &
HOLD_PID=$!
for _ in $(seq 100); do
  grep -q registered "$WORK/hold.log" 2>/dev/null && break
  sleep 0.05
done
sleep 0.2
run http_keepalive rps http --http-port "$HTTP" --conns 4 --duration 0.3 --warmup 0.1
run http_close rps http --http-port "$HTTP" --conns 4 --duration 0.3 --warmup 0.1 --close
run pdu rps pdu --client-port "$CLIENT" --conns 4 --duration 0.3 --warmup 0.1
run idle_client conns idle --kind client --client-port "$CLIENT" --conns 50 --settle 0.1
run idle_http conns idle --kind http --http-port "$HTTP" --conns 50 --settle 0.1
echo "perf smoke: all scenarios ran"
