# Sourced (not run) by the scripts that start a login_server of their own on loopback:
# scripts/bench.sh, scripts/soak.sh and bench/perf/smoke.sh.

# write_loopback_config FILE [LINE...]: every listener on 127.0.0.1 and an ephemeral port (the
# server reports the ports in its --ready-file), warnings only in the log, then the extra lines.
write_loopback_config() {
  local file="$1"
  shift
  {
    cat <<'CONF'
ClientListenIP=127.0.0.1
ClientPort=0
HttpListenIP=127.0.0.1
HttpPort=0
MsgServerListenIP=127.0.0.1
MsgServerPort=0
msfs=http://127.0.0.1:8700/
discovery=http://127.0.0.1/api/discovery
LogLevel=warn
CONF
    (($# == 0)) || printf '%s\n' "$@"
  } >"$file"
}

# wait_until_ready READY_FILE PID: waits at most 10 s for the server to write READY_FILE; fails
# at once if the process is gone.
wait_until_ready() {
  local ready="$1" pid="$2"
  for _ in $(seq 100); do
    [[ -s $ready ]] && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  [[ -s $ready ]]
}

# ready_port READY_FILE LISTENER: the first port of msg_server, client, http or admin.
ready_port() {
  sed -E "s/.*\"$2\":\[([0-9]+).*/\1/" "$1"
}
