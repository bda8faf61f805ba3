#!/usr/bin/env bash
# scripts/bench.sh: the one benchmark command (docs/PERFORMANCE.md).
#
# Builds login_server and loadgen in Release, starts our server (IoThreads=1) and nginx (1 worker,
# a static copy of our exact JSON reply) on loopback, pins each server to one core with taskset
# and the load generators (wrk, loadgen) to the other, runs every scenario as runs
# interleaved ours/nginx, and prints one table of medians: scenario, ours, nginx, ratio.
# The HTTPS scenarios serve one ECDSA P-256 certificate, made here with openssl, from both; the
# "ours" HTTPS rows are skipped, with a message, when the built login_server has no HTTPS.
#
#   scripts/bench.sh            # full run (about 10 minutes)
#   scripts/bench.sh --quick    # short durations and small update counts (about 3 minutes)
#   scripts/bench.sh --https-only  # the HTTPS scenarios alone
#
# Options: --quick, --https-only, --runs N (default 3), --build-dir DIR (default build-bench), --no-build,
#          --out DIR (results; default DIR/bench-results/<time>), --plot FILE (also copy the PNG
#          there, e.g. docs/perf/throughput.png), --server-cpu N / --load-cpu N (defaults 0 / 1).
# Needs: Debian 12; installs nginx-light, wrk, gnuplot-nox, curl if missing (root or sudo).
# Every process it starts is stopped on exit, Ctrl-C or failure. Only loopback is used.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib/loopback_server.sh
source "$ROOT/scripts/lib/loopback_server.sh"
# shellcheck source=lib/test_ca.sh
source "$ROOT/scripts/lib/test_ca.sh"
QUICK=0
HTTPS_ONLY=0
RUNS=3
BUILD_DIR="$ROOT/build-bench"
DO_BUILD=1
OUT=""
PLOT_COPY=""
SERVER_CPU=0
LOAD_CPU=1

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --https-only) HTTPS_ONLY=1 ;;
    --runs) RUNS="$2"; shift ;;
    --build-dir) BUILD_DIR="$2"; shift ;;
    --no-build) DO_BUILD=0 ;;
    --out) OUT="$2"; shift ;;
    --plot) PLOT_COPY="$2"; shift ;;
    --server-cpu) SERVER_CPU="$2"; shift ;;
    --load-cpu) LOAD_CPU="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

# --- durations and sizes ----------------------------------------------------------------------
if [[ $QUICK == 1 ]]; then
  DUR=1; WARM=0.3
  UPD_ONE=100000; UPD_TEN=1000000; UPD_MANY=20000; UPD_MIXED=20000
  IDLE_CONNS=10000
  TLS_IDLE_CONNS=2000
else
  DUR=5; WARM=1
  UPD_ONE=1000000; UPD_TEN=10000000; UPD_MANY=1000000; UPD_MIXED=1000000
  IDLE_CONNS=10000
  TLS_IDLE_CONNS=10000
fi
SWEEP=(1 4 16 64 256 1024)
MAIN_CONNS=64

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- packages -----------------------------------------------------------------------------------
ensure_packages() {
  local missing=()
  command -v nginx >/dev/null || missing+=(nginx-light)
  command -v wrk >/dev/null || missing+=(wrk)
  command -v gnuplot >/dev/null || missing+=(gnuplot-nox)
  command -v curl >/dev/null || missing+=(curl)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v taskset >/dev/null || missing+=(util-linux)
  command -v cmake >/dev/null || missing+=(cmake)
  command -v ninja >/dev/null || missing+=(ninja-build)
  [[ ${#missing[@]} -eq 0 ]] && return 0
  log "installing ${missing[*]}"
  local sudo=()
  [[ $(id -u) -ne 0 ]] && sudo=(sudo)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    "${missing[@]}" >&2 || {
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      "${missing[@]}" >&2
  }
}

# --- processes we start, and their cleanup -----------------------------------------------------
WORK="$(mktemp -d /tmp/ttlogin-bench.XXXXXX)"
PIDS=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# Stops one process we started and forgets it.
stop_pid() {
  local pid="$1" kept=()
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in "${PIDS[@]}"; do [[ $p != "$pid" ]] && kept+=("$p"); done
  PIDS=("${kept[@]}")
}

# utime+stime clock ticks of a process.
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
CLK_TCK=$(getconf CLK_TCK)

# A free loopback TCP port below the ephemeral range.
free_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 10000))
    [[ -z "$(ss -Htln "sport = :$p")" ]] && { echo "$p"; return; }
  done
  die "no free port found"
}

# --- build --------------------------------------------------------------------------------------
ensure_packages
if [[ $DO_BUILD == 1 ]]; then
  log "building Release in $BUILD_DIR"
  # -Wno-error=restrict: GCC 12 reports a false -Wrestrict inside libstdc++ at -O3.
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    "-DCMAKE_CXX_FLAGS=-Wno-error=restrict" >"$WORK/cmake.log" 2>&1 ||
    { cat "$WORK/cmake.log" >&2; die "cmake failed"; }
  ninja -C "$BUILD_DIR" login_server loadgen registry_bench >"$WORK/build.log" 2>&1 ||
    { tail -40 "$WORK/build.log" >&2; die "build failed"; }
fi
SERVER_BIN="$BUILD_DIR/server/login_server"
LOADGEN="$BUILD_DIR/tools/loadgen/loadgen"
REGISTRY_BENCH="$BUILD_DIR/bench/registry_bench"
for b in "$SERVER_BIN" "$LOADGEN" "$REGISTRY_BENCH"; do
  [[ -x $b || ($HTTPS_ONLY == 1 && $b == "$REGISTRY_BENCH") ]] || die "missing $b"
done

[[ -n $OUT ]] || OUT="$BUILD_DIR/bench-results/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
RAW="$OUT/raw.txt"
: >"$RAW"

# The 1,024- and 10,000-connection scenarios need file descriptors; both servers inherit this.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
((NOFILE >= IDLE_CONNS + 100)) || {
  log "open-files limit $NOFILE: idle scenarios reduced to $((NOFILE - 200)) connections"
  IDLE_CONNS=$((NOFILE - 200))
}
((TLS_IDLE_CONNS <= IDLE_CONNS)) || TLS_IDLE_CONNS=$IDLE_CONNS
if (($(nproc) < 2)); then
  log "warning: fewer than 2 CPUs; server and load share a core"
  LOAD_CPU=$SERVER_CPU
fi
SRUN=(taskset -c "$SERVER_CPU")
LRUN=(taskset -c "$LOAD_CPU")

# --- our server -----------------------------------------------------------------------------------
OURS_PID=""; HTTP_PORT=""; CLIENT_PORT=""; MS_PORT=""; HOLD_PID=""; HTTPS_PORT=""
# start_ours [LINE...]: the extra lines go into its config (the HTTPS scenarios add TLS_CONF).
start_ours() {
  write_loopback_config "$WORK/loginserver.conf" IoThreads=1 MsgServerTimeout=3600 \
    ClientTimeout=600 HttpTimeout=600 "MaxClientConnections=$((IDLE_CONNS + 1000))" \
    "MaxHttpConnections=$((IDLE_CONNS + 1000))" \
    MaxMsgServerConnectionsPerAddress=1000 "$@"  # every fake msg_server comes from 127.0.0.1
  rm -f "$WORK/ready.json"
  "${SRUN[@]}" "$SERVER_BIN" -c "$WORK/loginserver.conf" --ready-file "$WORK/ready.json" \
    >>"$WORK/server.log" 2>&1 &
  OURS_PID=$!
  PIDS+=("$OURS_PID")
  wait_until_ready "$WORK/ready.json" "$OURS_PID" ||
    { tail "$WORK/server.log" >&2; die "login_server did not start"; }
  HTTP_PORT=$(ready_port "$WORK/ready.json" http)
  CLIENT_PORT=$(ready_port "$WORK/ready.json" client)
  MS_PORT=$(ready_port "$WORK/ready.json" msg_server)
  HTTPS_PORT=""
  grep -q '"https":\[' "$WORK/ready.json" && HTTPS_PORT=$(ready_port "$WORK/ready.json" https)
  return 0
}
stop_ours() { [[ -n $OURS_PID ]] && stop_pid "$OURS_PID"; OURS_PID=""; }

# One registered msg_server, so that answers are real (code 0) replies.
start_hold() {
  "${LRUN[@]}" "$LOADGEN" hold --ms-port "$MS_PORT" >>"$WORK/hold.log" 2>&1 &
  HOLD_PID=$!
  PIDS+=("$HOLD_PID")
  for _ in $(seq 100); do
    curl -s "http://127.0.0.1:$HTTP_PORT/msg_server" | grep -q '"code":0' && return 0
    sleep 0.05
  done
  die "the held msg_server never became the answer"
}
stop_hold() { [[ -n $HOLD_PID ]] && stop_pid "$HOLD_PID"; HOLD_PID=""; }

# --- nginx ----------------------------------------------------------------------------------------
NGINX_PID=""; NGINX_PORT=""
start_nginx() {
  mkdir -p "$WORK/nginx/www" "$WORK/nginx/tmp"
  # nginx's worker drops root privileges (to nobody), so it must be able to read the file.
  chmod 755 "$WORK" "$WORK/nginx" "$WORK/nginx/www"
  # The exact bytes our server answers with while a msg_server is registered.
  curl -s "http://127.0.0.1:$HTTP_PORT/msg_server" >"$WORK/nginx/www/msg_server"
  chmod 644 "$WORK/nginx/www/msg_server"
  grep -q '"code":0' "$WORK/nginx/www/msg_server" || die "no code-0 reply to copy for nginx"
  NGINX_PORT=$(free_port)
  sed -e "s|@DIR@|$WORK/nginx|g" -e "s|@PORT@|$NGINX_PORT|g" -e "s|@NOFILE@|$NOFILE|g" \
    -e "s|@WORKER_CONNECTIONS@|$((NOFILE - 100))|g" \
    "$ROOT/bench/perf/nginx.conf.in" >"$WORK/nginx/nginx.conf"
  "${SRUN[@]}" nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/nginx-error.log" \
    >>"$WORK/nginx/stdout.log" 2>&1 &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  for _ in $(seq 100); do
    curl -s "http://127.0.0.1:$NGINX_PORT/msg_server" 2>/dev/null | grep -q '"code":0' && break
    sleep 0.05
  done
  cmp -s <(curl -s "http://127.0.0.1:$NGINX_PORT/msg_server") "$WORK/nginx/www/msg_server" ||
    { tail -5 "$WORK/nginx/nginx-error.log" >&2; die "nginx does not serve the copied reply"; }
}
nginx_worker() { pgrep -P "$NGINX_PID" | head -1; }

# --- recording ------------------------------------------------------------------------------------
# record KEY SERVER VALUE: one measured figure of one run (RAW keeps them all; medians later).
record() { printf '%s %s %s\n' "$1" "$2" "$3" >>"$RAW"; }
# value of key=... in a RESULT line
field() { sed -nE "s/.* $1=([^ ]+).*/\1/p" <<<"$2" | head -1; }

# wrk keep-alive or close; records rps, p99 (us) and server CPU share.
run_wrk() {
  local who="$1" port="$2" conns="$3" mode="$4" key="$5" pid="$6"
  local hdr=() out t0 t1 c0 c1
  [[ $mode == close ]] && hdr=(-H "Connection: close")
  c0=$(cpu_ticks "$pid"); t0=$(date +%s.%N)
  out=$("${LRUN[@]}" wrk -t1 -c"$conns" -d"${DUR}s" --latency "${hdr[@]}" \
    "http://127.0.0.1:$port/msg_server" 2>&1) || { echo "$out" >&2; die "wrk failed"; }
  c1=$(cpu_ticks "$pid"); t1=$(date +%s.%N)
  echo "== wrk $who $mode c=$conns" >>"$OUT/wrk.log"; echo "$out" >>"$OUT/wrk.log"
  local rps p99 errs
  rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
  p99=$(awk '$1 == "99%" { v = $2; u = v; gsub(/[0-9.]/, "", u); sub(/[a-z]+$/, "", v);
         f = (u == "us") ? 1 : (u == "ms") ? 1000 : (u == "s") ? 1000000 : 1; print v * f }' <<<"$out")
  errs=$(awk '/Non-2xx|Socket errors/ { print; }' <<<"$out")
  [[ -n $errs ]] && log "wrk $who $mode c=$conns: $errs"
  record "$key.rps" "$who" "$rps"
  record "$key.p99_us" "$who" "$p99"
  record "$key.cpu" "$who" "$(awk -v a="$c0" -v b="$c1" -v s="$t0" -v e="$t1" -v h="$CLK_TCK" \
    'BEGIN { printf "%.2f", (b - a) / h / (e - s) }')"
  log "wrk $who $mode c=$conns: $rps req/s, p99 ${p99} us"
}

# loadgen SCENARIO ...; echoes the RESULT line.
run_loadgen() {
  local out
  out=$("${LRUN[@]}" "$LOADGEN" "$@" 2>>"$OUT/loadgen.log") || true
  echo "$out" >>"$OUT/loadgen.log"
  grep '^RESULT' <<<"$out" | tail -1
}

# --- the runs -------------------------------------------------------------------------------------
log "results in $OUT; server on CPU $SERVER_CPU, load on CPU $LOAD_CPU; runs $RUNS; $([[ $QUICK == 1 ]] && echo quick || echo full)"
start_ours
start_hold
start_nginx
log "ours: http $HTTP_PORT client $CLIENT_PORT msg_server $MS_PORT (pid $OURS_PID); nginx: $NGINX_PORT (pid $NGINX_PID)"
NGINX_WORKER=$(nginx_worker)

if [[ $HTTPS_ONLY == 0 ]]; then  # the plain scenarios, through the idle ones
for run in $(seq "$RUNS"); do
  log "run $run of $RUNS"
  # Interleaved: each point runs ours then nginx back to back, so both see the same machine.
  for c in "${SWEEP[@]}"; do
    run_wrk ours "$HTTP_PORT" "$c" keepalive "http_ka_$c" "$OURS_PID"
    run_wrk nginx "$NGINX_PORT" "$c" keepalive "http_ka_$c" "$NGINX_WORKER"
  done
  run_wrk ours "$HTTP_PORT" "$MAIN_CONNS" close "http_close_$MAIN_CONNS" "$OURS_PID"
  run_wrk nginx "$NGINX_PORT" "$MAIN_CONNS" close "http_close_$MAIN_CONNS" "$NGINX_WORKER"

  # The same two with our loadgen, to cross-check wrk (and as the mixed scenario's solo figure).
  for mode in keepalive close; do
    flag=(); [[ $mode == close ]] && flag=(--close)
    for who in ours nginx; do
      if [[ $who == ours ]]; then port=$HTTP_PORT; pid=$OURS_PID; else port=$NGINX_PORT; pid=$NGINX_WORKER; fi
      r=$(run_loadgen http --http-port "$port" --conns "$MAIN_CONNS" --duration "$DUR" \
        --warmup "$WARM" "${flag[@]}" --server-pid "$pid" --label "$who")
      record "lg_$mode.rps" "$who" "$(field rps "$r")"
      record "lg_$mode.p99_us" "$who" "$(field p99_us "$r")"
      record "lg_$mode.cpu" "$who" "$(field server_cpu "$r")"
      log "loadgen http $mode $who: $(field rps "$r") req/s"
    done
  done

  r=$(run_loadgen pdu --client-port "$CLIENT_PORT" --conns "$MAIN_CONNS" --duration "$DUR" \
    --warmup "$WARM" --server-pid "$OURS_PID" --label ours)
  record pdu.rps ours "$(field rps "$r")"
  record pdu.p99_us ours "$(field p99_us "$r")"
  record pdu.cpu ours "$(field server_cpu "$r")"
  log "pdu: $(field rps "$r") exchanges/s"

  # Update scenarios need the registry to themselves: the held msg_server steps aside.
  stop_hold
  for spec in "upd_one 1 $UPD_ONE" "upd_ten 1 $UPD_TEN" "upd_many $MAIN_CONNS $UPD_MANY"; do
    read -r key conns n <<<"$spec"
    r=$(run_loadgen updates --http-port "$HTTP_PORT" --ms-port "$MS_PORT" --conns "$conns" \
      --updates "$n" --server-pid "$OURS_PID" --label ours)
    [[ -n $(field updates_per_s "$r") ]] || die "updates scenario failed: $r"
    record "$key.ups" ours "$(field updates_per_s "$r")"
    record "$key.ns" ours "$(field ns_per_update "$r")"
    log "updates $conns x $n: $(field updates_per_s "$r") updates/s"
  done
  r=$(run_loadgen mixed --http-port "$HTTP_PORT" --ms-port "$MS_PORT" --conns "$MAIN_CONNS" \
    --ms-conns "$MAIN_CONNS" --updates "$UPD_MIXED" --warmup "$WARM" --server-pid "$OURS_PID" \
    --label ours)
  [[ -n $(field updates_per_s "$r") ]] || die "mixed scenario failed: $r"
  record mixed.rps ours "$(field rps "$r")"
  record mixed.p99_us ours "$(field p99_us "$r")"
  record mixed.ups ours "$(field updates_per_s "$r")"
  log "mixed: $(field rps "$r") req/s with $(field updates_per_s "$r") updates/s"
  # The solo update figure the mixed one is compared with: same streams, same sizes.
  r=$(run_loadgen updates --http-port "$HTTP_PORT" --ms-port "$MS_PORT" --conns "$MAIN_CONNS" \
    --updates "$UPD_MIXED" --server-pid "$OURS_PID" --label ours)
  record mixed_solo.ups ours "$(field updates_per_s "$r")"
  start_hold
done

# --- memory: idle connections, each against a fresh process -------------------------------------
log "idle connections: $IDLE_CONNS"
stop_hold
stop_ours
start_ours
sleep 0.5
r=$(run_loadgen idle --kind client --client-port "$CLIENT_PORT" --conns "$IDLE_CONNS" \
  --server-pid "$OURS_PID" --settle 1 --label ours)
record idle_client.bpc ours "$(field bytes_per_conn "$r")"
record idle_client.conns ours "$(field conns "$r")"
log "idle client: $(field bytes_per_conn "$r") bytes/conn ($r)"
stop_ours
start_ours
start_hold
sleep 0.5
r=$(run_loadgen idle --kind http --http-port "$HTTP_PORT" --conns "$IDLE_CONNS" \
  --server-pid "$OURS_PID" --settle 1 --label ours)
record idle_http.bpc ours "$(field bytes_per_conn "$r")"
record idle_http.conns ours "$(field conns "$r")"
log "idle http ours: $(field bytes_per_conn "$r") bytes/conn ($r)"
r=$(run_loadgen idle --kind http --http-port "$NGINX_PORT" --conns "$IDLE_CONNS" \
  --server-pid "$NGINX_WORKER" --settle 1 --label nginx)
record idle_http.bpc nginx "$(field bytes_per_conn "$r")"
record idle_http.conns nginx "$(field conns "$r")"
log "idle http nginx: $(field bytes_per_conn "$r") bytes/conn ($r)"
fi

# --- HTTPS: the same certificate for both, interleaved runs, then idle memory ---------------------
# One throwaway ECDSA P-256 CA and server certificate (DNS localhost, IP 127.0.0.1); both servers
# serve server.chain.crt with server.key, and loadgen verifies against ca.crt.
make_test_ca "$WORK/pki" || die "openssl could not make the test certificate"
TLS_CONF=(HttpsListenIP=127.0.0.1 HttpsPort=0 "TlsCertificate=$WORK/pki/server.chain.crt"
          "TlsPrivateKey=$WORK/pki/server.key")
TLS_LG=(--tls --cafile "$WORK/pki/ca.crt")

NGINX_TLS_PID=""; NGINX_TLS_PORT=""
start_nginx_tls() {
  local dir="$WORK/nginx-tls"
  mkdir -p "$dir/www" "$dir/tmp"
  chmod 755 "$WORK" "$WORK/pki" "$dir" "$dir/www"
  cp "$WORK/nginx/www/msg_server" "$dir/www/msg_server"
  chmod 644 "$dir/www/msg_server"
  NGINX_TLS_PORT=$(free_port)
  sed -e "s|@DIR@|$dir|g" -e "s|@PORT@|$NGINX_TLS_PORT|g" -e "s|@NOFILE@|$NOFILE|g" \
    -e "s|@WORKER_CONNECTIONS@|$((NOFILE - 100))|g" -e "s|@CERT@|$WORK/pki/server.chain.crt|g" \
    -e "s|@KEY@|$WORK/pki/server.key|g" "$ROOT/bench/perf/nginx_tls.conf.in" >"$dir/nginx.conf"
  "${SRUN[@]}" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/nginx-error.log" \
    >>"$dir/stdout.log" 2>&1 &
  NGINX_TLS_PID=$!
  PIDS+=("$NGINX_TLS_PID")
  for _ in $(seq 100); do
    curl -s --cacert "$WORK/pki/ca.crt" "https://127.0.0.1:$NGINX_TLS_PORT/msg_server" 2>/dev/null |
      grep -q '"code":0' && break
    sleep 0.05
  done
  cmp -s <(curl -s --cacert "$WORK/pki/ca.crt" "https://127.0.0.1:$NGINX_TLS_PORT/msg_server") \
    "$dir/www/msg_server" ||
    { tail -5 "$dir/nginx-error.log" >&2; die "nginx does not serve the copied reply over HTTPS"; }
}

# Connection-per-request runs leave sockets in TIME_WAIT for a minute. When they (this machine's,
# not only ours) come near the number of ephemeral ports, new connects stall for a SYN
# retransmission (1 s, then 3 s) and every server looks slow: say so next to the figures.
warn_time_wait() {
  local tw range
  tw=$(ss -Htan state time-wait 2>/dev/null | wc -l)
  range=$(awk '{ print $2 - $1 + 1 }' /proc/sys/net/ipv4/ip_local_port_range)
  ((tw * 2 < range)) ||
    log "warning: $tw sockets in TIME_WAIT for $range ephemeral ports: connects may stall, handshake figures of this run are suspect"
}

# run_https WHO PORT PID: one run of each HTTPS rate scenario against one server.
run_https() {
  local who="$1" port="$2" pid="$3" r
  warn_time_wait
  r=$(run_loadgen http "${TLS_LG[@]}" --http-port "$port" --conns "$MAIN_CONNS" \
    --duration "$DUR" --warmup "$WARM" --server-pid "$pid" --label "$who")
  if [[ -z $(field rps "$r") ]]; then
    log "HTTPS keep-alive $who failed: $(grep '^loadgen ' "$OUT/loadgen.log" | tail -1)"
  else
    record https_ka.rps "$who" "$(field rps "$r")"
    record https_ka.p99_us "$who" "$(field p99_us "$r")"
    record https_ka.cpu "$who" "$(field server_cpu "$r")"
    log "HTTPS keep-alive $who: $(field rps "$r") req/s, p99 $(field p99_us "$r") us"
  fi
  # Handshakes: a new connection per request. Without --tls-resume every handshake is full (the
  # counts are checked, not assumed); with it each connection offers its previous session.
  for kind in full resumed; do
    local flag=()
    [[ $kind == resumed ]] && flag=(--tls-resume)
    r=$(run_loadgen http "${TLS_LG[@]}" "${flag[@]}" --close --http-port "$port" \
      --conns "$MAIN_CONNS" --duration "$DUR" --warmup "$WARM" --server-pid "$pid" --label "$who")
    if [[ -z $(field handshakes_per_s "$r") ]]; then
      log "HTTPS $kind handshakes $who failed: $(grep '^loadgen ' "$OUT/loadgen.log" | tail -1)"
      continue
    fi
    local expected=full
    [[ $kind == resumed ]] && expected=reused
    [[ $(field "$expected" "$r") == "$(field handshakes "$r")" ]] ||
      log "warning: HTTPS $kind handshakes $who: only $(field "$expected" "$r") of $(field handshakes "$r") were $expected"
    record "https_$kind.hps" "$who" "$(field handshakes_per_s "$r")"
    record "https_$kind.cpu" "$who" "$(field server_cpu "$r")"
    record "https_$kind.p99_us" "$who" "$(field handshake_p99_us "$r")"
    # Server CPU per handshake: the fair figure when the load generator, which does more of the
    # handshake's work than the server (two signature checks against one signature), saturates.
    record "https_$kind.cpu_us" "$who" "$(awk -v c="$(field server_cpu "$r")" \
      -v h="$(field handshakes_per_s "$r")" 'BEGIN { if (c != "" && h > 0) printf "%.1f", c * 1e6 / h }')"
    log "HTTPS $kind handshakes $who: $(field handshakes_per_s "$r")/s ($(field full "$r") full, $(field reused "$r") resumed), server CPU $(field server_cpu "$r")"
  done
}

log "HTTPS: $RUNS runs, then idle memory ($TLS_IDLE_CONNS connections)"
stop_hold
stop_ours
start_ours "${TLS_CONF[@]}"
HTTPS_OURS=1
if [[ -z $HTTPS_PORT ]]; then
  HTTPS_OURS=0
  log "ours: this login_server has no HTTPS listener (no \"https\" in its ready file): HTTPS rows show nginx only"
fi
start_hold
if [[ $HTTPS_OURS == 1 ]]; then
  cmp -s <(curl -s --cacert "$WORK/pki/ca.crt" "https://127.0.0.1:$HTTPS_PORT/msg_server") \
    "$WORK/nginx/www/msg_server" || die "ours over HTTPS does not answer the same bytes as over HTTP"
fi
start_nginx_tls
NGINX_TLS_WORKER=$(pgrep -P "$NGINX_TLS_PID" | head -1)
log "ours: https ${HTTPS_PORT:-none} (pid $OURS_PID); nginx: https $NGINX_TLS_PORT (pid $NGINX_TLS_PID)"
for run in $(seq "$RUNS"); do
  log "HTTPS run $run of $RUNS"
  [[ $HTTPS_OURS == 1 ]] && run_https ours "$HTTPS_PORT" "$OURS_PID"
  run_https nginx "$NGINX_TLS_PORT" "$NGINX_TLS_WORKER"
done
# Idle memory per TLS keep-alive connection (one request each, then silence), each server on a
# fresh process: one that has served the rate runs has heap their handshakes grew and freed, which
# the idle connections reuse, so its RSS grows less than what they hold (nginx, two runs here:
# 15,338 bytes per connection warm, 15,634 fresh). The client keeps no OpenSSL buffers while idle.
if [[ $HTTPS_OURS == 1 ]]; then
  stop_hold
  stop_ours
  start_ours "${TLS_CONF[@]}"
  start_hold
  sleep 0.5
  r=$(run_loadgen idle --kind http "${TLS_LG[@]}" --http-port "$HTTPS_PORT" \
    --conns "$TLS_IDLE_CONNS" --server-pid "$OURS_PID" --settle 1 --label ours)
  record idle_https.bpc ours "$(field bytes_per_conn "$r")"
  record idle_https.conns ours "$(field conns "$r")"
  log "idle https ours: $(field bytes_per_conn "$r") bytes/conn ($r)"
fi
stop_pid "$NGINX_TLS_PID"
start_nginx_tls
NGINX_TLS_WORKER=$(pgrep -P "$NGINX_TLS_PID" | head -1)
sleep 0.5
r=$(run_loadgen idle --kind http "${TLS_LG[@]}" --http-port "$NGINX_TLS_PORT" \
  --conns "$TLS_IDLE_CONNS" --server-pid "$NGINX_TLS_WORKER" --settle 1 --label nginx)
record idle_https.bpc nginx "$(field bytes_per_conn "$r")"
record idle_https.conns nginx "$(field conns "$r")"
log "idle https nginx: $(field bytes_per_conn "$r") bytes/conn ($r)"
stop_pid "$NGINX_TLS_PID"

# --- registry micro-benchmarks ---------------------------------------------------------------------
if [[ $HTTPS_ONLY == 0 ]]; then
log "registry_bench"
"${LRUN[@]}" "$REGISTRY_BENCH" --benchmark_min_time="$([[ $QUICK == 1 ]] && echo 0.05 || echo 0.5)" \
  --benchmark_format=csv 2>/dev/null >"$OUT/registry_bench.csv" || die "registry_bench failed"
while IFS=, read -r name _ _ cpu_time _; do
  name=${name//\"/}
  case "$name" in BM_UpdateCount/*|BM_Choose/*)
    record "reg_${name#BM_}" ours "$cpu_time" ;;
  esac
done <"$OUT/registry_bench.csv"
fi

# --- the table --------------------------------------------------------------------------------------
median() { # median KEY SERVER
  awk -v k="$1" -v s="$2" '$1 == k && $2 == s && $3 != "" { print $3 }' "$RAW" | sort -g |
    awk '{ v[NR] = $1 } END { if (NR == 0) print ""; else if (NR % 2) print v[(NR + 1) / 2];
         else printf "%.6g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
fmt() { # human number
  awk -v v="$1" -v d="${2:-0}" 'BEGIN { if (v == "") { print "n/a"; exit }
    s = sprintf("%." d "f", v); n = split(s, p, "."); i = p[1]; o = "";
    neg = (substr(i, 1, 1) == "-"); if (neg) i = substr(i, 2);
    while (length(i) > 3) { o = "," substr(i, length(i) - 2) o; i = substr(i, 1, length(i) - 3) }
    o = (neg ? "-" : "") i o; if (n > 1) o = o "." p[2]; print o }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "n/a"; else printf "%.2f\n", a / b }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "n/a"; else printf "%.0f%%\n", 100 * a / b }'; }

TABLE="$OUT/table.md"
{
  echo "| scenario | ours | nginx | ours/nginx | notes |"
  echo "|---|---:|---:|---:|---|"
  row() { # row LABEL OURS NGINX RATIO NOTES
    printf '| %s | %s | %s | %s | %s |\n' "$1" "$2" "$3" "$4" "$5"
  }
  cpu_note() { echo "server CPU $(median "$1.cpu" ours) vs $(median "$1.cpu" nginx) core"; }
  k=http_ka_$MAIN_CONNS
  row "HTTP keep-alive, $MAIN_CONNS conns (wrk), req/s" "$(fmt "$(median $k.rps ours)")" \
    "$(fmt "$(median $k.rps nginx)")" "$(ratio "$(median $k.rps ours)" "$(median $k.rps nginx)")" \
    "$(cpu_note $k)"
  row "HTTP keep-alive, $MAIN_CONNS conns (wrk), p99 latency us" "$(fmt "$(median $k.p99_us ours)")" \
    "$(fmt "$(median $k.p99_us nginx)")" "$(ratio "$(median $k.p99_us ours)" "$(median $k.p99_us nginx)")" \
    "lower is better"
  k=http_close_$MAIN_CONNS
  row "HTTP Connection: close, $MAIN_CONNS conns (wrk), req/s" "$(fmt "$(median $k.rps ours)")" \
    "$(fmt "$(median $k.rps nginx)")" "$(ratio "$(median $k.rps ours)" "$(median $k.rps nginx)")" \
    "$(cpu_note $k)"
  for c in 1 1024; do
    k=http_ka_$c
    row "HTTP keep-alive, $c conn(s) (wrk), req/s" "$(fmt "$(median $k.rps ours)")" \
      "$(fmt "$(median $k.rps nginx)")" "$(ratio "$(median $k.rps ours)" "$(median $k.rps nginx)")" \
      "p99 $(fmt "$(median $k.p99_us ours)") vs $(fmt "$(median $k.p99_us nginx)") us"
  done
  for mode in keepalive close; do
    k=lg_$mode
    row "HTTP $mode, $MAIN_CONNS conns (loadgen cross-check), req/s" "$(fmt "$(median $k.rps ours)")" \
      "$(fmt "$(median $k.rps nginx)")" "$(ratio "$(median $k.rps ours)" "$(median $k.rps nginx)")" \
      "p99 $(fmt "$(median $k.p99_us ours)") vs $(fmt "$(median $k.p99_us nginx)") us"
  done
  row "Client-port PDU connect/request/reply/close, $MAIN_CONNS conns, exchanges/s" \
    "$(fmt "$(median pdu.rps ours)")" "$(fmt "$(median http_close_$MAIN_CONNS.rps nginx)")" \
    "$(ratio "$(median pdu.rps ours)" "$(median http_close_$MAIN_CONNS.rps nginx)")" \
    "nginx column: its HTTP close rate (wrk); vs our HTTP close: $(ratio "$(median pdu.rps ours)" "$(median http_close_$MAIN_CONNS.rps ours)")"
  row "Count updates, 1 conn x $(fmt $UPD_ONE), updates/s" "$(fmt "$(median upd_one.ups ours)")" \
    "n/a" "" "$(median upd_one.ns ours) ns/update"
  row "Count updates, 1 conn x $(fmt $UPD_TEN), updates/s" "$(fmt "$(median upd_ten.ups ours)")" \
    "n/a" "" "$(median upd_ten.ns ours) ns/update; per-update cost vs $(fmt $UPD_ONE): $(ratio "$(median upd_ten.ns ours)" "$(median upd_one.ns ours)")x"
  row "Count updates, $MAIN_CONNS conns x $(fmt $UPD_MANY), updates/s" "$(fmt "$(median upd_many.ups ours)")" \
    "n/a" "" "$(median upd_many.ns ours) ns/update"
  row "Mixed: HTTP keep-alive $MAIN_CONNS conns while $MAIN_CONNS msg_servers stream, req/s" \
    "$(fmt "$(median mixed.rps ours)")" "n/a" "" \
    "$(pct "$(median mixed.rps ours)" "$(median lg_keepalive.rps ours)") of solo (loadgen); p99 $(fmt "$(median mixed.p99_us ours)") us"
  row "Mixed: updates/s ($MAIN_CONNS x $(fmt $UPD_MIXED)) alongside the HTTP load" \
    "$(fmt "$(median mixed.ups ours)")" "n/a" "" \
    "$(pct "$(median mixed.ups ours)" "$(median mixed_solo.ups ours)") of solo ($(fmt "$(median mixed_solo.ups ours)")/s)"
  row "Idle Client-port connections ($(median idle_client.conns ours)), server bytes/conn" \
    "$(fmt "$(median idle_client.bpc ours)")" "n/a" "" "RSS growth / connections, fresh process"
  row "Idle HTTP keep-alive connections ($(median idle_http.conns ours)), server bytes/conn" \
    "$(fmt "$(median idle_http.bpc ours)")" "$(fmt "$(median idle_http.bpc nginx)")" \
    "$(ratio "$(median idle_http.bpc ours)" "$(median idle_http.bpc nginx)")" "lower is better"
  https_note="" ; [[ $HTTPS_OURS == 1 ]] || https_note="ours: no HTTPS in this build; "
  k=https_ka
  row "HTTPS keep-alive, $MAIN_CONNS conns (loadgen), req/s" "$(fmt "$(median $k.rps ours)")" \
    "$(fmt "$(median $k.rps nginx)")" "$(ratio "$(median $k.rps ours)" "$(median $k.rps nginx)")" \
    "${https_note}$(cpu_note $k)"
  row "HTTPS keep-alive, $MAIN_CONNS conns (loadgen), p99 latency us" \
    "$(fmt "$(median $k.p99_us ours)")" "$(fmt "$(median $k.p99_us nginx)")" \
    "$(ratio "$(median $k.p99_us ours)" "$(median $k.p99_us nginx)")" "${https_note}lower is better"
  for kind in full resumed; do
    k=https_$kind
    what="full handshakes (Connection: close, no resumption)"
    [[ $kind == resumed ]] && what="resumed handshakes (Connection: close, session tickets)"
    row "HTTPS $what, $MAIN_CONNS conns, handshakes/s" "$(fmt "$(median $k.hps ours)")" \
      "$(fmt "$(median $k.hps nginx)")" "$(ratio "$(median $k.hps ours)" "$(median $k.hps nginx)")" \
      "${https_note}$(cpu_note $k); handshake p99 $(fmt "$(median $k.p99_us ours)") vs $(fmt "$(median $k.p99_us nginx)") us"
    row "HTTPS $kind handshake, server CPU us per handshake" "$(fmt "$(median $k.cpu_us ours)" 1)" \
      "$(fmt "$(median $k.cpu_us nginx)" 1)" "$(ratio "$(median $k.cpu_us ours)" "$(median $k.cpu_us nginx)")" \
      "${https_note}lower is better; the fair figure when loadgen saturates its core"
  done
  row "Idle HTTPS keep-alive connections ($(median idle_https.conns nginx)), server bytes/conn" \
    "$(fmt "$(median idle_https.bpc ours)")" "$(fmt "$(median idle_https.bpc nginx)")" \
    "$(ratio "$(median idle_https.bpc ours)" "$(median idle_https.bpc nginx)")" "${https_note}lower is better"
  for op in UpdateCount Choose; do
    a=$(median "reg_$op/10" ours); b=$(median "reg_$op/100000" ours)
    row "Registry $op ns/op: 10 -> 1,000 -> 100,000 msg_servers" \
      "$(fmt "$a" 1) -> $(fmt "$(median "reg_$op/1000" ours)" 1) -> $(fmt "$b" 1)" "n/a" "" \
      "growth 10 -> 100,000: $(pct "$(awk -v a="$a" -v b="$b" 'BEGIN { print b - a }')" "$a")"
  done
} >"$TABLE"
if [[ $HTTPS_ONLY == 1 ]]; then  # the rows of the scenarios that ran
  grep -E '^\|(---| scenario | HTTPS | Idle HTTPS )' "$TABLE" >"$TABLE.https" && mv "$TABLE.https" "$TABLE"
fi

# --- the plot ---------------------------------------------------------------------------------------
for c in "${SWEEP[@]}"; do
  echo "$c $(median "http_ka_$c.rps" ours) $(median "http_ka_$c.rps" nginx)"
done >"$OUT/sweep.dat"
if [[ $HTTPS_ONLY == 0 ]]; then  # no sweep to plot otherwise
gnuplot -e "datafile='$OUT/sweep.dat'; outfile='$OUT/throughput.png'; subtitle='$(date +%Y-%m-%d), $(nproc) cores, server on CPU $SERVER_CPU, wrk on CPU $LOAD_CPU, median of $RUNS runs'" \
  "$ROOT/bench/perf/throughput.gp" 2>>"$OUT/gnuplot.log" || log "gnuplot failed (see $OUT/gnuplot.log)"
[[ -n $PLOT_COPY && -s $OUT/throughput.png ]] && cp "$OUT/throughput.png" "$PLOT_COPY"
fi

{
  echo
  echo "ttlogin benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) x $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo),"
  echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); median of $RUNS interleaved runs; $([[ $QUICK == 1 ]] && echo "--quick" || echo full)"
  echo
  cat "$TABLE"
  echo
  echo "raw figures: $RAW$([[ $HTTPS_ONLY == 1 ]] || echo "; plot: $OUT/throughput.png")"
}
