#!/usr/bin/env python3
"""Fails when an alert or dashboard expression names a metric a scrape of /metrics lacks.

  check_metric_names.py --metrics SCRAPE.txt [--rules FILE]... [--dashboard FILE]... [--promtool]

Every metric name in every expression must be a series of SCRAPE (a live server's /metrics),
a series Prometheus makes itself for each target (`up`, `scrape_*`), or one a recording rule of
the given rule files makes. Each `metric{label="value"}` matcher with a fixed value must match a
series of SCRAPE too, so a query of a label value the server never writes is caught as well.
With --promtool, promtool also parses every dashboard expression (rule files it checks itself).
Prints one line per problem, naming the expression's place and the metric; exit 1 if any.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import promql_names  # noqa: E402

# The series Prometheus adds to every scrape target.
PROMETHEUS_MADE = {
    "up", "scrape_duration_seconds", "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling", "scrape_series_added",
}


def check(scrape_text, expressions, recorded):
    """The problems (strings) of `expressions`, a list of (where, expr)."""
    exposition = promql_names.Exposition(scrape_text)
    problems = []
    for where, expr in expressions:
        try:
            names = promql_names.metric_names(expr)
        except promql_names.UnreadableExpression as e:
            problems.append(f"{where}: {e}\n    {expr}")
            continue
        if not names:
            problems.append(f"{where}: names no metric\n    {expr}")
        for name in sorted(names):
            if name in PROMETHEUS_MADE or name in recorded:
                continue
            why = exposition.why_missing(name)
            if why:
                problems.append(f"{where}: {why}\n    {expr}")
        for name, label, value in promql_names.selectors(expr):
            if name in PROMETHEUS_MADE or name in recorded or name not in exposition.labels:
                continue
            if (label, value) not in exposition.labels[name]:
                problems.append(
                    f"{where}: no series {name}{{{label}=\"{value}\"}} is exported\n    {expr}")
    return problems


def promql(grafana_expr):
    """A Grafana target's expression as plain PromQL: its variables given example values."""
    text = re.sub(r"\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}",
                  "5m", grafana_expr)
    return re.sub(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*", "x", text)


def promtool_problems(expressions):
    """What promtool says of `expressions` (where, expr), each made a recording rule."""
    promtool = shutil.which("promtool")
    if not promtool:
        return ["promtool not found (Debian package prometheus)"]
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (where, expr) in enumerate(expressions):
            path = os.path.join(tmp, f"{i}.yml")
            with open(path, "w", encoding="utf-8") as f:
                yaml.safe_dump({"groups": [{"name": "g", "rules": [
                    {"record": "dashboard:expr", "expr": promql(expr)}]}]}, f)
            run = subprocess.run([promtool, "check", "rules", path], capture_output=True,
                                 text=True)
            if run.returncode != 0:
                problems.append(f"{where}: promtool does not parse it: "
                                f"{(run.stdout + run.stderr).strip()}\n    {expr}")
    return problems


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--metrics", required=True, help="a scrape of /metrics")
    parser.add_argument("--rules", action="append", default=[])
    parser.add_argument("--dashboard", action="append", default=[])
    parser.add_argument("--promtool", action="store_true",
                        help="also parse each dashboard expression with promtool")
    args = parser.parse_args(argv)
    with open(args.metrics, encoding="utf-8") as f:
        scrape = f.read()
    expressions = []
    recorded = set()
    for path in args.rules:
        expressions += promql_names.rule_expressions(path)
        recorded |= promql_names.recorded_names(path)
    dashboard = []
    for path in args.dashboard:
        dashboard += promql_names.dashboard_expressions(path)
    expressions += dashboard
    if not expressions:
        print("no expression found: nothing was checked", file=sys.stderr)
        return 1
    problems = check(scrape, expressions, recorded)
    if args.promtool:
        problems += promtool_problems(dashboard)
    for p in problems:
        print(p)
    print(f"{len(expressions)} expressions checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
