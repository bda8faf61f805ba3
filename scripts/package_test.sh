#!/usr/bin/env bash
# The Debian package end to end, as root like CI: builds it (scripts/build_package.sh), runs
# lintian and checks the listing, installs it, checks the installed config, runs the installed
# server as ttlogin on loopback test ports, checks that tshark loads the dissector, reinstalls the
# package over itself under the running server (an edit of the conffile is kept, no prompt), hands
# the server over live to the new binary, checks the unit with systemd-analyze verify (when there
# is one), purges the package and checks that the user, the config, the binaries and the unit are
# gone and the machine is as the test found it.
# A trap purges the package and stops the server when a step fails. Ends with one line
# "package_test: PASS" or "package_test: FAIL (...)".
# Usage: sudo scripts/package_test.sh      env: OUT_DIR (where the package is built), JOBS
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
start=$(date +%s)
export DEBIAN_FRONTEND=noninteractive

PACKAGE=ttlogin
USER_NAME=ttlogin
CONF=/etc/ttlogin/loginserver.conf
UNIT=/lib/systemd/system/login_server.service
SERVER=/usr/sbin/login_server
# What the package owns or makes on the machine; each must be absent before and after.
STATE_PATHS=(/etc/ttlogin "$SERVER" /usr/bin/pdu_dump /usr/bin/load_replay "$UNIT"
  /etc/systemd/system/multi-user.target.wants/login_server.service
  /usr/lib/x86_64-linux-gnu/wireshark/plugins/ttlogin.lua /usr/share/doc/ttlogin
  /var/lib/ttlogin /var/log/ttlogin)
# Listed by dpkg -c: the man pages, bash completion, alert rules and dashboard. login_server(8),
# pdu_dump(1), load_replay(1) and the completions are generated from the tools' command-line
# definitions.
LISTED=(./usr/share/man/man5/loginserver.conf.5.gz ./usr/share/man/man8/login_server.8.gz
  ./usr/share/man/man1/pdu_dump.1.gz ./usr/share/man/man1/load_replay.1.gz
  ./usr/share/bash-completion/completions/login_server
  ./usr/share/bash-completion/completions/pdu_dump
  ./usr/share/bash-completion/completions/load_replay
  ./usr/share/ttlogin/prometheus/ttlogin.rules.yml ./usr/share/ttlogin/grafana/ttlogin.dashboard.json)
# Bounds on every wait: the server writes its ready file well within a second on an idle
# machine, and stops within 2 s of SIGTERM (README, exit codes).
READY_TIMEOUT_S=20
STOP_TIMEOUT_S=10

work=$(mktemp -d)
server_pid=
failures=()
step() { echo "--- $* ($(($(date +%s) - start)) s)"; }
fail() {
  echo "FAIL: $*" >&2
  failures+=("$*")
}
die() {
  fail "$*"
  exit 1
}

machine_state() {
  local status
  status=$(dpkg-query -W -f='${Status}' "$PACKAGE" 2>/dev/null || true)
  case $status in
    "" | *not-installed) echo "package: absent" ;;
    *) echo "package: $status" ;;
  esac
  echo "user: $(getent passwd "$USER_NAME" || echo absent)"
  echo "group: $(getent group "$USER_NAME" || echo absent)"
  echo "statoverride: $(dpkg-statoverride --list "$CONF" || echo absent)"
  local p
  for p in "${STATE_PATHS[@]}"; do
    if [[ -e $p || -L $p ]]; then echo "$p: present"; else echo "$p: absent"; fi
  done
}

cleanup() {
  local rc=$?
  local pid
  # The server, and the one a live upgrade started if the test stopped half-way through it.
  for pid in "$server_pid" \
    "$(sed -E 's/.*"pid":([0-9]+).*/\1/' "$work/run/ready.json" 2>/dev/null)"; do
    if [[ -n $pid ]] && [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == "$SERVER"* ]]; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  if [[ ${installed_by_us:-0} == 1 ]] &&
    dpkg-query -W -f='${Status}' "$PACKAGE" 2>/dev/null | grep -q installed; then
    echo "cleanup: purging $PACKAGE" >&2
    dpkg --purge "$PACKAGE" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
  if [[ $rc -ne 0 && ${#failures[@]} -eq 0 ]]; then failures+=("exit $rc"); fi
  if [[ ${#failures[@]} -eq 0 ]]; then
    echo "package_test: PASS ($(($(date +%s) - start)) s)"
  else
    local IFS=';'
    echo "package_test: FAIL (${failures[*]}) ($(($(date +%s) - start)) s)"
    exit 1
  fi
}
trap cleanup EXIT
# An interrupted run cleans up too.
trap 'fail interrupted; exit 130' INT TERM

[[ $(id -u) -eq 0 ]] || die "run as root: it installs and purges the package"

step "1. build the package"
deb=$(OUT_DIR=${OUT_DIR:-$root/build-deb} ./scripts/build_package.sh | tail -1)
[[ -f $deb ]] || die "scripts/build_package.sh made no .deb"
out=$(dirname "$deb")
echo "$deb ($(du -k "$deb" | cut -f1) KiB)"

step "lintian"
if ! lintian --fail-on error,warning "$out"/*.changes; then
  fail "lintian reports errors or warnings"
fi

step "package contents"
listing=$(dpkg -c "$deb")
for f in "$SERVER" /usr/bin/pdu_dump /usr/bin/load_replay "$CONF" "$UNIT" \
  /usr/lib/x86_64-linux-gnu/wireshark/plugins/ttlogin.lua /usr/share/doc/ttlogin/README.md \
  /usr/share/doc/ttlogin/OPERATIONS.md "${LISTED[@]}"; do
  grep -qE " \.?${f#.}( |$)" <<<"$listing" || fail "the package lacks ${f#.}"
done

step "2. record the machine's state and install"
before=$(machine_state)
if [[ $before != *"package: absent"* || $before != *"user: absent"* ]]; then
  # The test purges what it installs; it must not take away an installation it did not make.
  die "$PACKAGE or the user $USER_NAME is already on this machine; run the test where neither is"
fi
installed_by_us=1
apt-get install -y -q --no-install-recommends "$deb" </dev/null >"$work/install.log" 2>&1 ||
  { cat "$work/install.log" >&2; die "apt-get install $deb failed"; }
[[ $(dpkg-query -W -f='${Status}' "$PACKAGE") == "install ok installed" ]] ||
  die "$PACKAGE is not installed after apt-get install"
getent passwd "$USER_NAME" >/dev/null || fail "postinst did not create the user $USER_NAME"
getent group "$USER_NAME" >/dev/null || fail "postinst did not create the group $USER_NAME"
[[ $(getent passwd "$USER_NAME" | cut -d: -f7) == /usr/sbin/nologin ]] ||
  fail "the user $USER_NAME can log in: $(getent passwd "$USER_NAME")"
dpkg-query -W -f='${Conffiles}\n' "$PACKAGE" | grep -q " $CONF " ||
  fail "$CONF is not a conffile"
# It may hold AdminToken: readable by root and the service's group only.
[[ $(stat -c '%U:%G %a' "$CONF") == "root:$USER_NAME 640" ]] ||
  fail "$CONF is $(stat -c '%U:%G %a' "$CONF"), not root:$USER_NAME 640"
"$SERVER" --version | grep -q "$(dpkg-query -W -f='${Version}' "$PACKAGE")" ||
  fail "login_server --version does not say the package version"
for tool in pdu_dump load_replay; do
  "/usr/bin/$tool" --help >/dev/null 2>&1 || fail "/usr/bin/$tool --help fails"
done

step "3. login_server --check-config on $CONF"
runuser -u "$USER_NAME" -- "$SERVER" --check-config -c "$CONF" ||
  fail "--check-config rejects the installed $CONF"

step "4. the installed server on loopback test ports"
# The installed config with every listener on 127.0.0.1 and a port the system picks; the ready
# file reports the ports. The folder belongs to the service's user, as /var/lib/ttlogin would.
run_dir=$work/run
install -d -o "$USER_NAME" -g "$USER_NAME" -m 0750 "$run_dir"
chmod 0755 "$work"
sed -E -e 's/^(Client|Http|MsgServer|Admin)ListenIP=.*/\1ListenIP=127.0.0.1/' \
  -e 's/^(Client|Http|MsgServer|Admin)Port=.*/\1Port=0/' "$CONF" >"$run_dir/loginserver.conf"
chown "$USER_NAME:" "$run_dir/loginserver.conf"
# setpriv execs the server itself (runuser would fork and stand between the test and its signals).
setpriv --reuid="$USER_NAME" --regid="$USER_NAME" --init-groups -- "$SERVER" \
  -c "$run_dir/loginserver.conf" --ready-file "$run_dir/ready.json" >"$work/server.log" 2>&1 &
server_pid=$!
deadline=$(($(date +%s) + READY_TIMEOUT_S))
until [[ -s $run_dir/ready.json ]]; do
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; die "the server exited"; }
  (($(date +%s) < deadline)) || die "no ready file within ${READY_TIMEOUT_S} s"
  sleep 0.1
done
port() { sed -E "s/.*\"$1\":\[([0-9]+).*/\1/" "$run_dir/ready.json"; }
http_port=$(port http)
admin_port=$(port admin)
[[ $(sed -E 's/.*"pid":([0-9]+).*/\1/' "$run_dir/ready.json") == "$server_pid" ]] ||
  fail "the ready file names another pid than the server's $server_pid"
server_user=$(ps -o user= -p "$server_pid")
[[ $server_user == "$USER_NAME" ]] || fail "the server runs as '$server_user', not $USER_NAME"
reply=$(curl -sS --max-time 5 "http://127.0.0.1:$http_port/msg_server") ||
  fail "GET /msg_server on port $http_port did not answer"
# No msg_server has registered, so the answer is a refusal with its code, in the classic JSON.
grep -q '"code"' <<<"$reply" || fail "GET /msg_server answered '$reply', not the JSON reply"
echo "GET /msg_server: $reply"
health=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' \
  "http://127.0.0.1:$admin_port/healthz") || true
[[ $health == 200 ]] || fail "GET /healthz on the admin port answered '$health', not 200"

step "the dissector loads in tshark"
if command -v tshark >/dev/null 2>&1; then
  # As an unprivileged user, as an analyst runs it (no personal plugin folder to mask it).
  plugins=$(setpriv --reuid=nobody --regid=nogroup --clear-groups -- env HOME=/nonexistent \
    tshark -G plugins 2>&1) || true
  grep -q "/wireshark/plugins/ttlogin.lua" <<<"$plugins" ||
    fail "tshark -G plugins does not list the installed ttlogin.lua"
else
  echo "tshark is not installed: dissector not loaded"
fi

step "5. reinstall over itself, under the running server: the edited conffile is kept"
edit="# edited by package_test $$"
echo "$edit" >>"$CONF"
# No --force-conf*: dpkg must keep the edit on its own, and with stdin closed a conffile prompt
# would fail the install instead of waiting.
dpkg -i "$deb" </dev/null >"$work/reinstall.log" 2>&1 ||
  { cat "$work/reinstall.log" >&2; fail "dpkg -i over the installed package failed"; }
grep -qi "configuration file" "$work/reinstall.log" &&
  fail "dpkg asked about the conffile: $(grep -i 'configuration file' "$work/reinstall.log")"
grep -qxF "$edit" "$CONF" || fail "the reinstall lost the edit of $CONF"
[[ $(stat -c '%U:%G %a' "$CONF") == "root:$USER_NAME 640" ]] ||
  fail "after the reinstall $CONF is $(stat -c '%U:%G %a' "$CONF"), not root:$USER_NAME 640"
[[ $(dpkg-query -W -f='${Status}' "$PACKAGE") == "install ok installed" ]] ||
  fail "$PACKAGE is not installed after the reinstall"

step "live upgrade of the running server to the reinstalled binary"
# The package replaced /usr/sbin/login_server under the running server (an upgrade neither stops
# nor restarts it); SIGUSR2 hands everything over to the new binary, which rewrites the ready file
# with its pid and the same ports, and the old process exits 0.
old_pid=$server_pid
kill -USR2 "$old_pid"
deadline=$(($(date +%s) + READY_TIMEOUT_S))
new_pid=$old_pid
while [[ $new_pid == "$old_pid" ]] || kill -0 "$old_pid" 2>/dev/null; do
  if (($(date +%s) >= deadline)); then
    cat "$work/server.log" >&2
    die "no live upgrade within ${READY_TIMEOUT_S} s"
  fi
  sleep 0.1
  new_pid=$(sed -E 's/.*"pid":([0-9]+).*/\1/' "$run_dir/ready.json")
done
old_rc=0
wait "$old_pid" || old_rc=$?
[[ $old_rc -eq 0 ]] || fail "the old server exited $old_rc after the live upgrade"
server_pid=$new_pid
[[ $(readlink "/proc/$new_pid/exe") == "$SERVER" ]] ||
  fail "the new server runs $(readlink "/proc/$new_pid/exe"), not $SERVER"
[[ $(ps -o user= -p "$new_pid") == "$USER_NAME" ]] ||
  fail "the new server does not run as $USER_NAME"
[[ $(port http) == "$http_port" ]] || fail "the new server serves HTTP on another port"
reply=$(curl -sS --max-time 5 "http://127.0.0.1:$http_port/msg_server") || true
grep -q '"code"' <<<"$reply" || fail "after the live upgrade GET /msg_server answered '$reply'"
metrics=$(curl -sS --max-time 5 "http://127.0.0.1:$admin_port/metrics") || true
grep -q '^ttlogin_upgrades_total{result="ok"} 1$' <<<"$metrics" ||
  fail "the new server's /metrics does not count the live upgrade"

# The new server is not this shell's child (its parent exited): stop it and poll, bounded.
kill -TERM "$server_pid"
deadline=$(($(date +%s) + STOP_TIMEOUT_S))
while kill -0 "$server_pid" 2>/dev/null; do
  (($(date +%s) < deadline)) || die "the server did not stop within ${STOP_TIMEOUT_S} s of SIGTERM"
  sleep 0.1
done
server_pid=

step "6. systemd-analyze verify $UNIT"
if command -v systemd-analyze >/dev/null 2>&1; then
  # It runs man on the unit's Documentation= pages: without man-db it could not find them.
  man_check=()
  command -v man >/dev/null 2>&1 || man_check=(--man=no)
  if ! systemd-analyze verify "${man_check[@]}" "$UNIT" >"$work/verify.log" 2>&1; then
    cat "$work/verify.log" >&2
    fail "systemd-analyze verify reports problems in $UNIT"
  fi
  grep -q "^ExecStart=$SERVER -c $CONF\$" "$UNIT" || fail "ExecStart is not $SERVER -c $CONF"
  grep -q "^User=$USER_NAME\$" "$UNIT" || fail "the unit does not run as $USER_NAME"
else
  echo "systemd-analyze is not installed: unit not verified"
fi

step "7. purge"
apt-get purge -y -q "$PACKAGE" </dev/null >"$work/purge.log" 2>&1 ||
  { cat "$work/purge.log" >&2; fail "apt-get purge failed"; }
after=$(machine_state)
if [[ $after != "$before" ]]; then
  diff <(echo "$before") <(echo "$after") >&2 || true
  fail "the purge left the machine different from before the install"
fi
installed_by_us=0
