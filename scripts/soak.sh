#!/usr/bin/env bash
# Soak test (not in CI): a Release login_server on loopback under a mixed load for a bounded time
# (SOAK_SECONDS, default 600), reporting its RSS and the rates every SOAK_INTERVAL seconds
# (default 60), then checking that the registry matches the msg_servers' own counts and that RSS
# stayed flat after the warm-up. Exit 0 only when both hold.
#
# Options (environment): SOAK_SECONDS, SOAK_INTERVAL, SOAK_WARMUP_SAMPLES (default 1),
# SOAK_MSG_SERVERS (50), SOAK_UPDATE_RATE (20000 updates/s), SOAK_HTTP_RATE (300/s),
# SOAK_PDU_RATE (300/s), SOAK_IDLE (1000 idle connections), SOAK_BUILD_DIR (build-soak).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${SOAK_BUILD_DIR:-$root/build-soak}
seconds=${SOAK_SECONDS:-600}
interval=${SOAK_INTERVAL:-60}

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTTLOGIN_BUILD_TESTS=OFF \
  -DTTLOGIN_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" --target login_server soak_driver

dir=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT

# shellcheck source=lib/loopback_server.sh
source "$root/scripts/lib/loopback_server.sh"
write_loopback_config "$dir/loginserver.conf" AdminListenIP=127.0.0.1 AdminPort=0
# The idle connections and the load need more descriptors than a default shell allows.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
"$build/server/login_server" -c "$dir/loginserver.conf" --ready-file "$dir/ready.json" \
  2>"$dir/server.log" &
server_pid=$!
if ! wait_until_ready "$dir/ready.json" "$server_pid"; then
  echo "soak: login_server did not start:" >&2
  cat "$dir/server.log" >&2
  exit 1
fi
port() { ready_port "$dir/ready.json" "$1"; }

echo "soak: login_server pid $server_pid ($(nproc) cores), ${seconds} s, RSS every ${interval} s"
rc=0
"$build/tools/soak/soak_driver" --pid "$server_pid" --seconds "$seconds" --interval "$interval" \
  --msg-port "$(port msg_server)" --client-port "$(port client)" --http-port "$(port http)" \
  --admin-port "$(port admin)" --warmup-samples "${SOAK_WARMUP_SAMPLES:-1}" \
  --msg-servers "${SOAK_MSG_SERVERS:-50}" --update-rate "${SOAK_UPDATE_RATE:-20000}" \
  --http-rate "${SOAK_HTTP_RATE:-300}" --pdu-rate "${SOAK_PDU_RATE:-300}" \
  --idle "${SOAK_IDLE:-1000}" || rc=$?
if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "soak: login_server died during the soak:" >&2
  tail -20 "$dir/server.log" >&2
  exit 1
fi
warnings=$(grep -c . "$dir/server.log" || true)
echo "soak: server log has $warnings line(s) at warn or above"
[ "$warnings" -gt 0 ] && sort "$dir/server.log" | cut -c1-160 | uniq -c | sort -rn | head -5
exit "$rc"
