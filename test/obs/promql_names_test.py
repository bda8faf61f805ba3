#!/usr/bin/env python3
"""Tests of the metric name extractor (promql_names.py) and of check_metric_names.py's verdicts."""

import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_metric_names  # noqa: E402
import promql_names  # noqa: E402
from promql_names import metric_names  # noqa: E402

SCRAPE = """# HELP ttlogin_requests_total Answers.
# TYPE ttlogin_requests_total counter
ttlogin_requests_total{listener="http",code="0"} 5
ttlogin_requests_total{listener="client",code="2"} 0
# TYPE ttlogin_msg_server_users gauge
# TYPE ttlogin_answer_latency_seconds histogram
ttlogin_answer_latency_seconds_bucket{listener="http",le="0.001"} 1
ttlogin_answer_latency_seconds_bucket{listener="http",le="+Inf"} 1
ttlogin_answer_latency_seconds_sum{listener="http"} 0.0001
ttlogin_answer_latency_seconds_count{listener="http"} 1
# TYPE ttlogin_users gauge
ttlogin_users 7
"""


class MetricNamesTest(unittest.TestCase):
    def test_functions_keywords_strings_and_label_lists_are_not_names(self):
        expr = ('sum by (job, instance) (rate(ttlogin_requests_total{code!="0", job=~"a|b"}[5m]))'
                ' / ignoring(code) group_left(listener) sum without (code) '
                '(increase(ttlogin_users[1h:5m] offset 1h30m)) > bool 0.05 and on(instance) '
                'label_replace(up, "dst", "$1", "src", "(.*)") unless count_values("v", x_total)')
        self.assertEqual(metric_names(expr), {"ttlogin_requests_total", "ttlogin_users", "up",
                                              "x_total"})

    def test_histogram_quantile_reads_the_bucket_series(self):
        expr = ("histogram_quantile(0.99, sum by (le) "
                "(rate(ttlogin_answer_latency_seconds_bucket[5m])))")
        self.assertEqual(metric_names(expr), {"ttlogin_answer_latency_seconds_bucket"})

    def test_grafana_variables_are_not_names(self):
        expr = ('rate(ttlogin_requests_total{job="$job", instance=~"${instance:regex}"}'
                '[$__rate_interval]) * $factor + [[old_style]]')
        self.assertEqual(metric_names(expr), {"ttlogin_requests_total"})

    def test_numbers_durations_and_at_modifiers_are_not_names(self):
        expr = "ttlogin_users @ 1609746000 - ttlogin_users offset 1w2d + 1e3 + 0x1f + Inf - NaN"
        self.assertEqual(metric_names(expr), {"ttlogin_users"})

    def test_a_name_given_as_a_name_matcher_counts(self):
        self.assertEqual(metric_names('{__name__="ttlogin_users", job="x"}'), {"ttlogin_users"})
        with self.assertRaises(promql_names.UnreadableExpression):
            metric_names('{__name__=~"ttlogin_.*"}')

    def test_a_label_list_does_not_hide_a_metric_after_it(self):
        self.assertEqual(metric_names("sum by (x) (a) + on (y) b"), {"a", "b"})


class CheckTest(unittest.TestCase):
    def problems(self, expr, recorded=()):
        return check_metric_names.check(SCRAPE, [("sample", expr)], set(recorded))

    def test_a_made_up_name_is_reported_with_its_expression(self):
        expr = 'sum(rate(ttlogin_requests_total[5m])) / sum(rate(ttlogin_logins_made_up_total[5m]))'
        problems = self.problems(expr)
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("ttlogin_logins_made_up_total is not exported", problems[0])
        self.assertIn(expr, problems[0])
        self.assertIn("sample", problems[0])

    def test_exported_names_pass(self):
        self.assertEqual(self.problems(
            'histogram_quantile(0.5, rate(ttlogin_answer_latency_seconds_bucket[5m])) '
            '+ ttlogin_answer_latency_seconds_sum / ttlogin_answer_latency_seconds_count '
            '+ sum(ttlogin_requests_total{listener="client"}) + up'), [])

    def test_a_family_without_samples_yet_counts(self):
        self.assertEqual(self.problems("sum(ttlogin_msg_server_users)"), [])

    def test_a_histograms_bare_name_is_reported_with_the_names_to_use(self):
        problems = self.problems("rate(ttlogin_answer_latency_seconds[5m])")
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("ttlogin_answer_latency_seconds_bucket", problems[0])

    def test_a_suffix_on_a_name_that_is_no_histogram_is_reported(self):
        problems = self.problems("rate(ttlogin_users_bucket[5m])")
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("ttlogin_users_bucket is not exported", problems[0])

    def test_a_label_value_the_server_never_writes_is_reported(self):
        problems = self.problems('rate(ttlogin_requests_total{listener="https"}[5m])')
        self.assertEqual(len(problems), 1, problems)
        self.assertIn('ttlogin_requests_total{listener="https"}', problems[0])
        self.assertEqual(self.problems('rate(ttlogin_requests_total{listener="$l"}[5m])'), [])

    def test_recorded_series_pass(self):
        self.assertEqual(self.problems("job:ttlogin_refusals:ratio5m > 0.1",
                                       recorded={"job:ttlogin_refusals:ratio5m"}), [])

    def test_an_expression_without_a_metric_is_reported(self):
        self.assertEqual(len(self.problems("vector(1)")), 1)


class FilesTest(unittest.TestCase):
    def test_dashboard_targets_in_rows_and_query_variables_are_read(self):
        model = {
            "panels": [
                {"type": "timeseries", "title": "A", "targets": [{"refId": "A", "expr": "a_total"}]},
                {"type": "row", "title": "R", "panels": [
                    {"type": "stat", "title": "B", "targets": [{"refId": "B", "expr": "b"}]}]},
            ],
            "templating": {"list": [
                {"type": "datasource", "name": "ds", "query": "prometheus"},
                {"type": "query", "name": "job", "query": {"query": "label_values(c_info, job)"}},
                {"type": "query", "name": "i", "query": "label_values(d{job=\"$job\"}, instance)"},
            ]},
        }
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(model, f)
        try:
            found = promql_names.dashboard_expressions(f.name)
        finally:
            os.unlink(f.name)
        self.assertEqual([metric_names(e) for _, e in found], [{"a_total"}, {"b"}, {"c_info"},
                                                               {"d"}])
        self.assertIn("panel 'B'", found[1][0])

    def test_rule_files_yield_every_rule_and_the_recorded_names(self):
        with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
            f.write("groups:\n- name: g\n  rules:\n  - record: r:x\n    expr: sum(x)\n"
                    "  - alert: A\n    expr: r:x > 1\n")
        try:
            self.assertEqual([e for _, e in promql_names.rule_expressions(f.name)],
                             ["sum(x)", "r:x > 1"])
            self.assertEqual(promql_names.recorded_names(f.name), {"r:x"})
        finally:
            os.unlink(f.name)


if __name__ == "__main__":
    unittest.main()
