#!/usr/bin/env bash
# Installs what is missing, builds login_server (Release) and runs it in the foreground on the
# shipped etc/loginserver.conf (ports 8008, 8080, 8100). Extra arguments go to login_server.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/bootstrap.sh"
cmake -S "$root" -B "$root/build-release" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DTTLOGIN_BUILD_TESTS=OFF -DTTLOGIN_BUILD_BENCH=OFF >/dev/null
cmake --build "$root/build-release" --target login_server
exec "$root/build-release/server/login_server" -c "$root/etc/loginserver.conf" "$@"
