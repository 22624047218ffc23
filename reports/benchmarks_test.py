"""The committed benchmark report: one publish run behind every figure.

Reads reports/benchmarks.json (what `bazel run //benchmarks -- --mode=publish`
wrote) and fails if it is not a publish run, if a row of the matrix (every
row mp_benchmarks and cpython_bench.py register) is missing or failed, if an
implementation beats its floor by more than noise, or if reports/benchmarks.md,
its plots or the README's results section differ from what the renderer makes
of that JSON.
"""

import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import junit_main  # noqa: E402
import render_benchmarks as rb  # noqa: E402

with open("reports/benchmarks.json") as f:
    DOC = json.load(f)
STATS, ERRORS = rb.collect(DOC)


def matrix():
    """Every row name the benchmarks register, mp's and CPython's."""
    mp = subprocess.run(["benchmarks/mp_benchmarks", "--mp_list"], check=True,
                        capture_output=True, text=True).stdout.split()
    cpython = subprocess.run([sys.executable, "benchmarks/cpython_bench.py", "--list"],
                             check=True, capture_output=True, text=True).stdout.split()
    return mp + cpython


class CommittedRun(unittest.TestCase):
    def test_is_one_publish_run(self):
        ctx = DOC["context"]
        self.assertEqual(ctx.get("mp_mode"), "publish", "reports/ must hold a publish run")
        self.assertTrue(ctx.get("mp_run_id", "").endswith("-publish"), ctx.get("mp_run_id"))

    def test_every_row_of_the_matrix_is_there(self):
        ran = {rb.row(*key) for key in STATS} | set(ERRORS)
        expected = set(matrix())
        self.assertEqual(sorted(expected - ran), [], "rows missing from the committed run")
        self.assertEqual(sorted(ran - expected), [], "rows the benchmarks no longer have")

    def test_no_row_failed(self):
        self.assertEqual(ERRORS, {})

    def test_mp_rows_have_every_repetition(self):
        self.assertIn("mp_repetitions", DOC["context"], "not written by run.sh")
        wanted = int(DOC["context"]["mp_repetitions"])
        short = [rb.row(*key) for key, s in STATS.items()
                 if not key[1].startswith("cpython-") and s.n != wanted]
        self.assertEqual(short, [])

    def test_no_floor_is_beaten(self):
        found = rb.anomalies(STATS)
        self.assertEqual(["%s: %.2f× %s" % a for a in found], [],
                         "below %.1f× the floor: the floor is not a lower bound" % rb.BELOW_FLOOR)


class Rendered(unittest.TestCase):
    def test_report_is_the_json_rendered(self):
        text, _ = rb.render_markdown(DOC)
        with open("reports/benchmarks.md") as f:
            self.assertEqual(f.read(), text, "re-render: reports/render_benchmarks.py "
                             "--from reports/benchmarks.json --out reports --readme README.md")

    def test_every_plot_is_there(self):
        _, plots = rb.render_markdown(DOC)
        missing = [stem for stem, *_ in plots
                   if not os.path.exists(os.path.join("reports/plots", stem + ".png"))]
        self.assertEqual(missing, [])

    def test_readme_section_is_the_json_rendered(self):
        with open("README.md") as f:
            readme = f.read()
        begin, end = readme.find(rb.README_BEGIN), readme.find(rb.README_END)
        self.assertGreaterEqual(begin, 0, "the README has no benchmarks section")
        self.assertEqual(readme[begin:end + len(rb.README_END)], rb.readme_section(DOC))


if __name__ == "__main__":
    junit_main.main(__name__)
