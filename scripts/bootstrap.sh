#!/usr/bin/env bash
# Installs every Debian package that building, testing and the tools need. Idempotent and
# non-interactive: it installs only what is missing, and does nothing when all is there.
# Works as root on a bare Debian 12; as another user it uses sudo for apt-get.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config git ca-certificates
  # libraries
  protobuf-compiler libprotobuf-dev libasio-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  libpcap-dev node-llhttp libssl-dev
  # the command lines of login_server and the tools
  libcli11-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev curl tshark
  # the HTTPS tests make their certificates with the openssl command
  openssl python3
  # loadgen's HTTPS tests run nginx as the TLS peer
  nginx
  # promtool checks that /metrics is a scrape Prometheus accepts
  prometheus
  # test/obs reads the alert rules (YAML) to check and unit-test them
  python3-yaml
  # the login tier test runs HAProxy in front of three login servers
  haproxy
  # the status page test drives the admin page in headless Chromium (StatusPageTest)
  chromium chromium-driver python3-selenium
  # scripts/package_test.sh builds the Debian package and lints it
  debhelper dpkg-dev fakeroot lintian
  # the man pages are checked by formatting them (test/tools/cli_test.sh)
  groff-base
  # fuzzing and sanitizers (clang's libFuzzer and runtimes)
  clang-14 libclang-rt-14-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "bootstrap: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "bootstrap: missing packages (${missing[*]}) and not root; run as root or install sudo" >&2
    exit 1
  fi
fi

echo "bootstrap: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; keep the safe default without a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" |
  "${SUDO[@]}" debconf-set-selections 2>/dev/null || true
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "bootstrap: done"
