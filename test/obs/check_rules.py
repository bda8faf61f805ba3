#!/usr/bin/env python3
"""Checks etc/prometheus/ttlogin.rules.yml: promtool accepts it, every alert says how urgent it is
and what to look at first, and the promtool unit tests (ttlogin.rules.test.yml) pass.

  check_rules.py RULES TESTS

promtool compares annotations verbatim, so the unit tests run against a copy of the rules
without them: they test when each alert fires, and this script checks the annotations are there.
"""

import os
import shutil
import subprocess
import sys
import tempfile

import yaml

SEVERITIES = {"warning", "critical"}


def problems_of(doc):
    problems = []
    alerts = 0
    for group in doc.get("groups", []):
        for rule in group.get("rules", []):
            if "alert" not in rule:
                continue
            alerts += 1
            name = rule["alert"]
            if "for" not in rule:
                problems.append(f"{name}: no for:")
            if rule.get("labels", {}).get("severity") not in SEVERITIES:
                problems.append(f"{name}: severity label is not one of {sorted(SEVERITIES)}")
            for key in ("summary", "description"):
                if not str(rule.get("annotations", {}).get(key, "")).strip():
                    problems.append(f"{name}: no {key} annotation")
    if alerts == 0:
        problems.append("no alert")
    return problems


def tested_alerts(tests, firing):
    """The alerts some unit test expects to fire (firing) or to stay quiet (not firing)."""
    return {t["alertname"] for case in tests.get("tests", [])
            for t in case.get("alert_rule_test", []) if bool(t.get("exp_alerts")) == firing}


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    rules_path, tests_path = argv
    promtool = shutil.which("promtool")
    if not promtool:
        print("promtool not found (Debian package prometheus; scripts/bootstrap.sh installs it)",
              file=sys.stderr)
        return 1
    rc = subprocess.run([promtool, "check", "rules", rules_path]).returncode
    if rc != 0:
        return 1
    with open(rules_path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    with open(tests_path, encoding="utf-8") as f:
        tests = yaml.safe_load(f)
    problems = problems_of(doc)
    alerts = {r["alert"] for g in doc["groups"] for r in g["rules"] if "alert" in r}
    for firing, what in ((True, "fires"), (False, "stays quiet")):
        for name in sorted(alerts - tested_alerts(tests, firing)):
            problems.append(f"{name}: no promtool unit test where it {what}")
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        for group in doc["groups"]:
            for rule in group["rules"]:
                rule.pop("annotations", None)
        # The tests name the rule file relative to themselves.
        for name in tests["rule_files"]:
            with open(os.path.join(tmp, name), "w", encoding="utf-8") as f:
                yaml.safe_dump(doc, f, sort_keys=False)
        shutil.copy(tests_path, os.path.join(tmp, os.path.basename(tests_path)))
        rc = subprocess.run([promtool, "test", "rules",
                             os.path.join(tmp, os.path.basename(tests_path))]).returncode
    print(f"{len(alerts)} alerts, each tested firing and quiet")
    return 1 if rc != 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
