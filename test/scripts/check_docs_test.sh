#!/usr/bin/env bash
# Runs scripts/check_docs.sh on a small tree with one stale reference of each kind, and expects it
# to fail naming every one of them; then on the same tree with each fixed, and expects it to pass.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree/docs" "$tree/server/net" "$tree/test/server/net"

cat >"$tree/server/net/widget.h" <<'CODE'
// A widget (docs/PROTOCOL.md, "Header").
namespace demo::net {
class WidgetPool {
 public:
  void Spin();
};
int MakeWidget();
}  // namespace demo::net
CODE
cat >"$tree/test/server/net/widget_test.cc" <<'CODE'
TEST(WidgetPoolTest, Spins) {}
TEST_F(WidgetPoolTest, SpinsTwice) {}
CODE
cat >"$tree/docs/PROTOCOL.md" <<'DOC'
# Protocol

## Header

The header.
DOC

write_docs() {  # $1: "stale" or "fixed"
  local path=server/net/widget.h member=WidgetPool::Spin call='MakeWidget()' type=WidgetPool
  local section=Header anchor=header cite=docs/PROTOCOL.md tracker="the widget design"
  local comment='// Spins (docs/PROTOCOL.md, "Header").' test=Spins suite=WidgetPoolTest
  local doc=README.md
  if [[ $1 == stale ]]; then
    path=server/net/gadget.h member=WidgetPool::Stop call='MakeGadget()' type=GadgetPool
    section=Footer anchor=footer cite=PROTOCOL.md tracker="issue 7" comment='// Spins (see #12).'
    test=Stops suite=GadgetPoolTest doc=NOTES.md
  fi
  cat >"$tree/README.md" <<DOC
# Demo

\`$path\` holds \`$type\`; \`$member\` and \`$call\` do the work; see
docs/PROTOCOL.md, "$section", [the header](docs/PROTOCOL.md#$anchor), $cite and $tracker.
Tested by \`WidgetPoolTest.$test\`, \`.SpinsTwice\` and \`$suite.*\`. More in $doc.
DOC
  printf '%s\nvoid demo::net::WidgetPool::Spin() {}\n' "$comment" >"$tree/server/net/widget.cc"
}

write_docs stale
if out=$("$root/scripts/check_docs.sh" "$tree" 2>&1); then
  echo "FAIL: check_docs.sh passed a tree with stale references:"; echo "$out"; exit 1
fi
status=0
for expected in \
    'README.md:3: server/net/gadget.h does not exist' \
    'README.md:3: `GadgetPool` is not in the sources' \
    'README.md:3: `WidgetPool::Stop` is not in the sources' \
    'README.md:3: `MakeGadget()`: no function MakeGadget in the sources' \
    'README.md:4: docs/PROTOCOL.md has no section "Footer"' \
    'README.md:4: docs/PROTOCOL.md has no section with anchor #footer' \
    'README.md:4: cite the protocol as docs/PROTOCOL.md' \
    'README.md:4: cites the tracker ("issue 7")' \
    'README.md:5: no test WidgetPoolTest.Stops' \
    'README.md:5: no test suite GadgetPoolTest' \
    'README.md:5: NOTES.md does not exist' \
    'server/net/widget.cc:1: cites the tracker ("#12")'; do
  if ! grep -qF -- "$expected" <<<"$out"; then
    echo "FAIL: missing: $expected"; status=1
  fi
done
if [[ $(grep -c . <<<"$out") -ne 13 ]]; then  # the twelve lines above and the summary
  echo "FAIL: expected exactly twelve problems"; status=1
fi
[[ $status -eq 0 ]] || { echo "--- output:"; echo "$out"; exit 1; }

write_docs fixed
if ! out=$("$root/scripts/check_docs.sh" "$tree" 2>&1); then
  echo "FAIL: check_docs.sh refused a clean tree:"; echo "$out"; exit 1
fi
echo "check_docs_test: ok"
