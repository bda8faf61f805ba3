#!/usr/bin/env bash
# Checks that the balancer configs docs/DEPLOYMENT.md shows are accepted as they are written:
# the HAProxy one by `haproxy -c`, and the nginx http part by `nginx -t` when nginx is installed
# (its stream part needs a module Debian ships separately). A doc config that a balancer refuses
# would be copied into production and fail there.
#   check_deployment_configs.sh ROOT    # exit 0: accepted; 1: refused (the balancer says why)
set -euo pipefail
root=${1:?usage: check_deployment_configs.sh ROOT}
doc=$root/docs/DEPLOYMENT.md
haproxy=${HAPROXY:-/usr/sbin/haproxy}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The fenced block that starts with the given line.
block() {
  awk -v first="$1" '
    /^```/ { if (inside) exit; fence = 1; next }
    fence && !inside { fence = 0; if ($0 == first) inside = 1; else next }
    inside { print }
  ' "$doc"
}

block global | sed "s#/run/haproxy/admin.sock#$tmp/admin.sock#" > "$tmp/haproxy.cfg"
grep -q '^backend login_http' "$tmp/haproxy.cfg" || { echo "no HAProxy config found in $doc"; exit 1; }
"$haproxy" -c -f "$tmp/haproxy.cfg"

if command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]]; then
  nginx=$(command -v nginx || echo /usr/sbin/nginx)
  mkdir -p "$tmp/nginx/logs"
  {
    echo "error_log $tmp/nginx/logs/error.log; pid $tmp/nginx/nginx.pid; events {}"
    echo "http { access_log off;"
    block 'upstream login_http {' | sed '/^stream {/,$d'
    echo "}"
  } > "$tmp/nginx/nginx.conf"
  grep -q 'proxy_pass http://login_http' "$tmp/nginx/nginx.conf" ||
    { echo "no nginx config found in $doc"; exit 1; }
  "$nginx" -t -q -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf"
fi
echo "check_deployment_configs: the HAProxy and nginx configs of docs/DEPLOYMENT.md are accepted"
