#!/usr/bin/env bash
# Checks that loginserver.conf(5) (docs/man/loginserver.conf.5) documents exactly the keys the
# config parser knows (KnownKeys() in common/login_server_config.cc), each with its default, and
# carries the project's version, so a key added to the parser cannot ship undocumented.
# An entry is ".TP" then ".BI Key= value" (or ".B Key"); its text up to the next entry or section
# must say "Default:".
# Prints one line per problem and exits 1 if there is any.
# Usage: scripts/check_man_config.sh [repository root]   (default: this script's repository)
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
exec python3 - "$root" <<'PYTHON'
import re
import sys

root = sys.argv[1]
parser_path = "common/login_server_config.cc"
man_path = "docs/man/loginserver.conf.5"
problems = []

with open(f"{root}/{parser_path}", encoding="utf-8") as fh:
    parser = fh.read()
m = re.search(r"KnownKeys\(\)\s*\{.*?=\s*\{(.*?)\};", parser, re.S)
if not m:
    sys.exit(f"check_man_config: no KnownKeys() set in {parser_path}")
known = re.findall(r'"([^"]+)"', m.group(1))
if not known:
    sys.exit(f"check_man_config: KnownKeys() in {parser_path} lists no key")

with open(f"{root}/{man_path}", encoding="utf-8") as fh:
    lines = fh.read().split("\n")

entries = {}  # key -> (line number, text of the entry)
i = 0
while i < len(lines):
    if lines[i].strip() == ".TP" and i + 1 < len(lines):
        tag = re.match(r"\.(?:BI?|BR)\s+\"?([A-Za-z]\w*)(?:=|\s|\"|$)", lines[i + 1])
        j = i + 2
        while j < len(lines) and not lines[j].startswith((".TP", ".SH", ".SS")):
            j += 1
        if tag:
            key = tag.group(1)
            if key in entries:
                problems.append(f"{man_path}:{i + 2}: {key} has a second entry")
            entries[key] = (i + 2, "\n".join(lines[i + 2:j]))
        i = j
    else:
        i += 1

files_section = False
for key in known:
    if key not in entries:
        problems.append(f"{man_path}: no entry for {key}, which {parser_path} parses")
    elif "Default:" not in entries[key][1]:
        problems.append(f"{man_path}:{entries[key][0]}: {key} gives no \"Default:\"")
for key, (lineno, _) in entries.items():
    if key not in known and not key.startswith("/"):
        problems.append(f"{man_path}:{lineno}: {key} is not a key {parser_path} knows")

with open(f"{root}/CMakeLists.txt", encoding="utf-8") as fh:
    version = re.search(r"project\(ttlogin VERSION ([0-9.]+)", fh.read())
th = next((l for l in lines if l.startswith(".TH")), "")
if version and f'"ttlogin {version.group(1)}"' not in th:
    problems.append(f"{man_path}: .TH does not say \"ttlogin {version.group(1)}\" "
                    "(the version in CMakeLists.txt)")

for p in problems:
    print(p)
if problems:
    print(f"check_man_config: {len(problems)} problem(s)", file=sys.stderr)
    sys.exit(1)
print(f"check_man_config: {len(known)} keys documented with their defaults")
PYTHON
