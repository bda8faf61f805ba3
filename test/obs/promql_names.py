"""The metric names a PromQL expression reads, and the expressions of a rule file and a dashboard.

Used by check_metric_names.py to hold every alert and every dashboard query to what a live
/metrics exports. Not a full PromQL parser: it removes what cannot be a metric name (strings,
label matchers, grouping label lists, durations, numbers, Grafana variables), then an identifier
is a metric unless a '(' follows it (a function or an aggregation) or it is a keyword.
"""

import json
import re

import yaml

# Words PromQL reserves in expression position (binary and set operators, modifiers, the
# aggregation clauses whose label lists are removed first) and the literals inf/nan.
KEYWORDS = {
    "and", "or", "unless", "bool", "by", "without", "on", "ignoring", "group_left",
    "group_right", "offset", "atan2", "inf", "nan",
}

# Keywords followed by a parenthesised list of label names, not of expressions.
_LABEL_LIST = re.compile(
    r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)", re.IGNORECASE)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_NAME_MATCHER = re.compile(r'__name__\s*(=~|!=|!~|=)\s*"((?:[^"\\]|\\.)*)"')
_SELECTOR = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
# Grafana's template variables: $var, ${var}, ${var:format}, [[var]] (the last is old syntax).
_GRAFANA_VAR = re.compile(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\[\[[^\]]*\]\]")
_AT = re.compile(r"@\s*(start\s*\(\s*\)|end\s*\(\s*\)|[0-9.eE+-]+)")
_DURATION = r"(?:[0-9]+(?:ms|s|m|h|d|w|y))+"
_NUMBER = re.compile(
    r"(?<![A-Za-z0-9_:.])(0x[0-9a-fA-F]+|" + _DURATION +
    r"|[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)(?![A-Za-z0-9_:])")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


class UnreadableExpression(ValueError):
    """An expression the extractor cannot read (e.g. a metric named only by a regex)."""


def metric_names(expr):
    """The set of metric names `expr` reads. Raises UnreadableExpression for a name it cannot know."""
    text = _GRAFANA_VAR.sub(" ", expr)
    names = set()
    # {__name__="x"} names a metric too; a regex over names cannot be checked.
    for op, value in _NAME_MATCHER.findall(text):
        if op != "=":
            raise UnreadableExpression(f"__name__{op}\"{value}\" selects metrics by pattern")
        names.add(value)
    text = _STRING.sub(" ", text)
    text = _SELECTOR.sub(" ", text)
    text = _RANGE.sub(" ", text)  # ranges and subqueries: [5m], [1h:1m]
    text = _LABEL_LIST.sub(" ", text)
    text = _AT.sub(" ", text)
    text = _NUMBER.sub(" ", text)
    for match in _IDENT.finditer(text):
        word = match.group(0)
        rest = text[match.end():].lstrip()
        if word.lower() in KEYWORDS:
            continue
        if rest.startswith("("):
            continue  # a function or an aggregation operator
        names.add(word)
    return names


HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
_SAMPLE = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"')


class Exposition:
    """What a Prometheus text exposition exports: the series names a query can select (each
    sample's name; a family's TYPE line also vouches for its names when it has no sample yet,
    e.g. per-msg_server gauges with none registered: a histogram F for F_bucket, F_sum, F_count
    only, since a query of F itself selects nothing), and the label pairs seen per name."""

    def __init__(self, text):
        self.names = set()
        self.histograms = set()
        self.labels = {}  # name -> {(label, value)}
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                parts = line.split()
                if len(parts) < 4:
                    continue
                if parts[3] in ("histogram", "summary"):
                    self.histograms.add(parts[2])
                    self.names.update(parts[2] + s for s in HISTOGRAM_SUFFIXES)
                else:
                    self.names.add(parts[2])
            elif line and not line.startswith("#"):
                m = _SAMPLE.match(line)
                if not m:
                    continue
                self.names.add(m.group(1))
                pairs = self.labels.setdefault(m.group(1), set())
                for label, value in _LABEL.findall(m.group(2) or ""):
                    pairs.add((label, value))

    def why_missing(self, name):
        """None when `name` is exported, else what to tell the author."""
        if name in self.names:
            return None
        if name in self.histograms:
            return f"{name} is a histogram: query {name}_bucket, {name}_sum or {name}_count"
        return f"{name} is not exported"


def selectors(expr):
    """(metric, label, value) for each equality matcher of a `metric{...}` selector whose value
    is fixed (not a Grafana variable): a series the expression expects to exist."""
    text = _GRAFANA_VAR.sub(lambda m: "\x00" * len(m.group(0)), expr)
    out = []
    for m in re.finditer(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*\{([^{}]*)\}", text):
        for label, op, value in re.findall(
                r'([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!=|!~|=)\s*"((?:[^"\\]|\\.)*)"', m.group(2)):
            if op == "=" and "\x00" not in value and label != "__name__":
                out.append((m.group(1), label, value))
    return out


def rule_expressions(path):
    """(where, expression) for every rule of a Prometheus rule file."""
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    out = []
    for group in doc.get("groups", []):
        for rule in group.get("rules", []):
            name = rule.get("alert") or rule.get("record")
            out.append((f"{path}: {group['name']}/{name}", rule["expr"]))
    return out


def recorded_names(path):
    """The series a rule file's recording rules make (dashboards may query them)."""
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    return {r["record"] for g in doc.get("groups", []) for r in g.get("rules", []) if "record" in r}


def _panels(panels):
    for panel in panels or []:
        yield panel
        yield from _panels(panel.get("panels"))  # rows hold their collapsed panels


def dashboard_expressions(path):
    """(where, expression) for every Prometheus target and query variable of a Grafana
    dashboard's JSON model."""
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    out = []
    for panel in _panels(doc.get("panels")):
        for target in panel.get("targets", []):
            if "expr" in target:
                out.append((f"{path}: panel '{panel.get('title')}' {target.get('refId', '')}",
                            target["expr"]))
    for var in doc.get("templating", {}).get("list", []):
        if var.get("type") != "query":
            continue
        query = var.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if not query:
            continue
        # label_values(metric, label) and query_result(expr) are Grafana's, not PromQL.
        m = re.fullmatch(r"\s*label_values\s*\((.*?)(?:,\s*[A-Za-z_][A-Za-z0-9_]*)?\s*\)\s*", query)
        if m:
            query = m.group(1)
        m = re.fullmatch(r"\s*query_result\s*\((.*)\)\s*", query)
        if m:
            query = m.group(1)
        if query.strip():
            out.append((f"{path}: variable '{var.get('name')}'", query))
    return out
