#!/usr/bin/env bash
# Runs scripts/check_man_config.sh on copies of the parser, the man page and CMakeLists.txt: it
# must pass on them as they are, and fail naming the culprit when the parser learns a key the
# page lacks, when an entry loses its default, when the page documents a key the parser does not
# know, and when the page's version differs from the project's.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
check=$root/scripts/check_man_config.sh
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
failures=0

fresh() {
  rm -rf "$tree"/*
  mkdir -p "$tree/common" "$tree/docs/man"
  cp "$root/common/login_server_config.cc" "$tree/common/"
  cp "$root/docs/man/loginserver.conf.5" "$tree/docs/man/"
  cp "$root/CMakeLists.txt" "$tree/"
}

expect() {  # $1: pass or fail, $2: text the output must contain, $3: what was changed
  local out rc=0
  out=$("$check" "$tree" 2>&1) || rc=$?
  if [[ $1 == pass && $rc -ne 0 ]] || [[ $1 == fail && $rc -eq 0 ]] ||
    ! grep -qF -- "$2" <<<"$out"; then
    echo "FAIL ($3): expected $1 with \"$2\", got exit $rc:"
    echo "$out"
    failures=$((failures + 1))
  fi
}

fresh
expect pass "keys documented" "the tree as it is"

fresh
sed -i 's/^      "ClientListenIP",$/      "ClientListenIP",\n      "NewShinyKey",/' \
  "$tree/common/login_server_config.cc"
expect fail "no entry for NewShinyKey" "a key the parser learned"

fresh
sed -i '/^\.BI MaxPduSize=/,/^\.TP/{/^Default:/d}' "$tree/docs/man/loginserver.conf.5"
expect fail "MaxPduSize gives no \"Default:\"" "an entry without its default"

fresh
printf '.TP\n.BI RetiredKey= n\nGone.\nDefault: 1.\n' >>"$tree/docs/man/loginserver.conf.5"
expect fail "RetiredKey is not a key" "a key the parser does not know"

fresh
sed -i 's/^project(ttlogin VERSION [0-9.]*/project(ttlogin VERSION 9.9.9/' "$tree/CMakeLists.txt"
expect fail "ttlogin 9.9.9" "another project version"

if [[ $failures -ne 0 ]]; then
  echo "check_man_config_test: $failures case(s) failed"
  exit 1
fi
echo "check_man_config_test: all 5 cases behave"
