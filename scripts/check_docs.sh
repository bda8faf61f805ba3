#!/usr/bin/env bash
# Checks that the docs name only things that exist, so a file moved or a function renamed shows up
# as a failing test instead of a reader's dead end. In docs/*.md and README.md:
#   - every repository path (server/..., common/..., tools/..., test/..., scripts/..., etc/...,
#     docs/..., proto/..., bench/...) exists; a path with '*' must match something;
#   - every `Class::Function`, `namespace::Name`, `Function()` and `CamelCaseName` in backticks is
#     found in the sources (a class member inside that class's body, or as Class::Member);
#   - every GoogleTest name in backticks (`Suite.Test`, `Suite.*`) is a test in test/;
#   - every cited section (docs/X.md, "Heading" or docs/X.md#anchor) is a heading of that file,
#     and every doc named without its folder (OPERATIONS.md) exists.
# In docs and in every source file (comments included):
#   - no tracker issue number ("issue 7", "#12") is cited: readers do not have the tracker;
#   - the protocol document is cited as docs/PROTOCOL.md, the one in the repository.
# Prints one line per stale reference (file:line: what) and exits 1 if there is any.
# Usage: scripts/check_docs.sh [repository root]   (default: this script's repository)
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
exec python3 - "$root" <<'PYTHON'
import os
import re
import subprocess
import sys

root = sys.argv[1]
os.chdir(root)

PATH_PREFIXES = ("server", "common", "tools", "test", "scripts", "etc", "docs", "proto", "bench")
SOURCE_EXTS = (".cc", ".h", ".cpp", ".hpp", ".c", ".proto", ".sh", ".py", ".lua", ".cmake", ".txt",
               ".conf", ".service")
# Names from libraries and tools the docs legitimately mention; they are not in this tree.
EXTERNAL_QUALIFIERS = {"std", "asio", "spdlog", "nlohmann", "google", "IM", "llhttp", "fmt",
                       "testing", "benchmark", "io_context", "epoll_reactor"}
EXTERNAL_FUNCTIONS = {"rate", "increase", "histogram_quantile",  # PromQL
                      "gethostname", "inet_pton", "accept", "recv", "send", "read", "write",
                      "epoll_wait", "stat", "open", "fstat", "setrlimit", "getrlimit", "malloc",
                      "free", "shared_from_this"}


def list_files():
    try:
        out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], check=True,
                             capture_output=True, text=True).stdout
        files = [f for f in out.splitlines() if os.path.isfile(f)]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for d, dirs, names in os.walk("."):
            dirs[:] = [x for x in dirs if not x.startswith((".", "build"))]
            files += [os.path.relpath(os.path.join(d, n)) for n in names]
    return sorted(files)


files = list_files()
docs = sorted(f for f in files if re.fullmatch(r"docs/[^/]+\.md", f)) + ["README.md"]
sources = [f for f in files if f.endswith(SOURCE_EXTS) or os.path.basename(f) == "CMakeLists.txt"]
source_text = {}
for f in sources:
    try:
        with open(f, encoding="utf-8", errors="replace") as fh:
            source_text[f] = fh.read()
    except OSError:
        pass
code_files = {f: t for f, t in source_text.items() if f.endswith((".cc", ".h", ".proto"))}
all_code = "\n".join(code_files.values())
problems = []


def report(path, lineno, what):
    problems.append(f"{path}:{lineno}: {what}")


# --- Paths -------------------------------------------------------------------------------------
PATH_RE = re.compile(r"(?<![\w/.:<>-])((?:%s)/[\w./*{}<>+-]*)" % "|".join(PATH_PREFIXES))


def path_exists(p):
    p = p.rstrip(".,;:)")
    if "<" in p or "{" in p:  # a placeholder such as <build> or {host:port}
        return True
    if "*" in p:
        rx = re.compile("^" + re.escape(p).replace(r"\*", "[^/]*"))
        return any(rx.match(f) for f in files)
    return os.path.exists(p)


# --- Code names --------------------------------------------------------------------------------
def body_of(kind_name_rx, text):
    """Bodies ({...}) of the class/struct/enum declarations matching kind_name_rx in text."""
    for m in kind_name_rx.finditer(text):
        start = text.find("{", m.end() - 1)
        if start < 0:
            continue
        depth = 0
        for i in range(start, len(text)):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    yield text[start:i]
                    break


def type_rx(name):
    return re.compile(r"\b(?:class|struct|enum(?:\s+class)?|union)\s+(?:\[\[[^\]]*\]\]\s*)?%s\b"
                      r"[^;{()]*\{" % re.escape(name))


def names_exist(parts):
    """parts: ["MsgServerRegistry", "Choose"] or ["http", "HttpSession"]."""
    *quals, last = parts
    word = re.compile(r"\b%s\b" % re.escape(last))
    if not quals:
        return bool(word.search(all_code))
    owner = quals[-1]
    if re.search(r"\b%s::%s\b" % (re.escape(owner), re.escape(last)), all_code):
        return True
    for body in body_of(type_rx(owner), all_code):
        if word.search(body):
            return True
    ns = re.compile(r"\bnamespace\s+[\w:]*\b%s\b" % re.escape(owner))
    return any(ns.search(t) and word.search(t) for t in code_files.values())


QUALIFIED_RE = re.compile(r"^((?:[A-Za-z_]\w*::)+[A-Za-z_]\w*)(\(.*\))?$")
CALL_RE = re.compile(r"^([A-Za-z_]\w*)\(.*\)$")
CAMEL_RE = re.compile(r"^[A-Z][a-z0-9]+[A-Z]\w*$")


def check_code_name(span):
    m = QUALIFIED_RE.match(span)
    if m:
        parts = m.group(1).split("::")
        if parts[0] in EXTERNAL_QUALIFIERS:
            return None
        return None if names_exist(parts) else f"`{span}` is not in the sources"
    m = CALL_RE.match(span)
    if m:
        name = m.group(1)
        if name in EXTERNAL_FUNCTIONS:
            return None
        if re.search(r"\b%s\s*\(" % re.escape(name), all_code):
            return None
        return f"`{span}`: no function {name} in the sources"
    if CAMEL_RE.match(span):
        # Types, functions and config keys: a config key is found in the config code or etc/.
        if re.search(r"\b%s\b" % re.escape(span), all_code) or any(
                re.search(r"\b%s\b" % re.escape(span), t) for f, t in source_text.items()
                if f.startswith("etc/")):
            return None
        return f"`{span}` is not in the sources"
    return None


# --- Test names --------------------------------------------------------------------------------
# GoogleTest names as the docs give them: `Suite.Name`, `Prefix/Suite.*`, and `.Name` for another
# test of the suite named last on the line.
gtests = set()
for f, t in code_files.items():
    if f.startswith("test/"):
        for m in re.finditer(r"\b(?:TYPED_)?TEST(?:_F|_P)?\s*\(\s*(\w+)\s*,\s*(\w+)\s*\)", t):
            gtests.add((m.group(1), m.group(2)))
gsuites = {s for s, _ in gtests}
TEST_RE = re.compile(r"(?:\w+/)?([A-Z]\w*Tests?)\.(\w+|\*)")
MORE_TEST_RE = re.compile(r"\.([A-Z]\w+)")


def check_test_names(path, lineno, spans):
    suite = None
    for span in spans:
        for tok in re.split(r"[,;]\s*|\s+", span):
            m = TEST_RE.fullmatch(tok)
            if m:
                suite, name = m.group(1), m.group(2)
            else:
                m = MORE_TEST_RE.fullmatch(tok)
                if not m or suite is None:
                    continue
                name = m.group(1)
            if name == "*" and suite not in gsuites:
                report(path, lineno, f"no test suite {suite}")
            elif name != "*" and (suite, name) not in gtests:
                report(path, lineno, f"no test {suite}.{name}")


# --- Sections ----------------------------------------------------------------------------------
def slug(heading):
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


headings = {}
for d in docs:
    with open(d, encoding="utf-8") as fh:
        hs = [re.sub(r"^#+\s*", "", line).strip() for line in fh if re.match(r"#+\s", line)]
    headings[d] = hs

SECTION_RE = re.compile(r"\b(docs/[A-Z_]+\.md|README\.md),?\s*\(?\"([^\"]+)\"")
ANCHOR_RE = re.compile(r"\b(docs/[A-Z_]+\.md|README\.md)#([\w-]+)")
FENCE_RE = re.compile(r"^\s*```")


def check_sections(path, lineno, line):
    for m in SECTION_RE.finditer(line):
        target, title = m.group(1), m.group(2)
        if target in headings and title not in headings[target]:
            report(path, lineno, f'{target} has no section "{title}"')
    for m in ANCHOR_RE.finditer(line):
        target, anchor = m.group(1), m.group(2)
        if target in headings and anchor not in {slug(h) for h in headings[target]}:
            report(path, lineno, f"{target} has no section with anchor #{anchor}")


# --- Tracker references and the protocol document -----------------------------------------------
# "issue 7", "issues #7", 'issue "reliability"', or a bare "#12" after a blank or "(" (not "{:#06x}"
# in a format string, nor "`ADDR:PORT#2`").
ISSUE_RE = re.compile(r"\bissues?\s*(?:#|no\.?\s*|number\s*)?\d+\b|\bissue\s+\"|(?:^|(?<=[\s(]))#\d+\b",
                      re.IGNORECASE)
PROTOCOL_RE = re.compile(r"(?<!docs/)(?<![\w/])PROTOCOL\.md")


def check_text_rules(path, lineno, line):
    m = ISSUE_RE.search(line)
    if m:
        report(path, lineno, f'cites the tracker ("{m.group(0)}"); cite a doc section instead')
    if PROTOCOL_RE.search(line) or "shared/PROTOCOL.md" in line:
        report(path, lineno, "cite the protocol as docs/PROTOCOL.md")


BARE_DOC_RE = re.compile(r"(?<![\w/.-])([A-Z][A-Z_]*\.md)\b")
md_link_rx = re.compile(r"\]\(([^)#\s]+)(#[\w-]+)?\)")
for d in docs:
    with open(d, encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    in_fence = False
    for n, line in enumerate(lines, 1):
        check_text_rules(d, n, line)
        check_sections(d, n, line)
        if FENCE_RE.match(line):
            in_fence = not in_fence
        for m in md_link_rx.finditer(line):
            target = m.group(1)
            if "://" in target or target.startswith("mailto:"):
                continue
            full = os.path.normpath(os.path.join(os.path.dirname(d), target))
            if not os.path.exists(full):
                report(d, n, f"link target {target} does not exist")
        for m in BARE_DOC_RE.finditer(line):
            name = m.group(1)
            if name != "PROTOCOL.md" and not os.path.exists(os.path.join("docs", name)) and \
                    not os.path.exists(name):
                report(d, n, f"{name} does not exist")
        for m in PATH_RE.finditer(line):
            if not path_exists(m.group(1)):
                report(d, n, f"{m.group(1).rstrip('.,;:)')} does not exist")
        if in_fence:
            continue
        check_test_names(d, n, re.findall(r"`([^`]+)`", line))
        for span in re.findall(r"`([^`]+)`", line):
            why = check_code_name(span.strip())
            if why:
                report(d, n, why)

for f, text in sorted(source_text.items()):
    if f in ("scripts/check_docs.sh", "test/scripts/check_docs_test.sh"):
        continue  # they hold stale references on purpose, as patterns and fixtures
    for n, line in enumerate(text.split("\n"), 1):
        check_text_rules(f, n, line)
        check_sections(f, n, line)

for p in problems:
    print(p)
if problems:
    print(f"check_docs: {len(problems)} stale reference(s)", file=sys.stderr)
    sys.exit(1)
print(f"check_docs: {len(docs)} docs and {len(source_text)} source files checked")
PYTHON
