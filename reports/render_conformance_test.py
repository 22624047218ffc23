"""Checks reports/render_conformance.py: which columns a row concerns, the
verdicts, and that it refuses to render counts that do not add up."""

import os
import sys
import tempfile
import unittest
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import render_conformance as rc  # noqa: E402
import testlogs  # noqa: E402

FORK = {"name": "fork", "kind": "processes", "start_method": "fork"}
SPAWN = {"name": "spawn", "kind": "processes", "start_method": "spawn"}
FORKSERVER = {"name": "forkserver", "kind": "processes", "start_method": "forkserver"}
THREADS = {"name": "threads", "kind": "threads", "start_method": ""}
MANAGER = {"name": "manager", "kind": "manager", "start_method": ""}
ALL = [FORK, SPAWN, FORKSERVER, THREADS, MANAGER]


def columns(allowed, behaviour=""):
    where = rc.concerned_by({"allowed_types": allowed, "behaviour": behaviour})
    return [c["name"] for c in ALL if rc.concerns(where, c)]


def case(outcome, **props):
    return {"outcome": outcome, "properties": props, "short_name": "S.T",
            "message": props.pop("message", "")}


class Columns(unittest.TestCase):
    def test_kinds(self):
        self.assertEqual(columns("processes,manager,threads"),
                         ["fork", "spawn", "forkserver", "threads", "manager"])
        self.assertEqual(columns("processes,threads"), ["fork", "spawn", "forkserver", "threads"])
        self.assertEqual(columns("manager"), ["manager"])

    def test_plain_test_cases_run_once_per_start_method(self):
        self.assertEqual(
            columns("none (plain unittest.TestCase; run once per start method via test_misc)"),
            ["fork", "spawn", "forkserver"])

    def test_concurrent_futures(self):
        self.assertEqual(columns("cf: ProcessPool fork/forkserver/spawn"),
                         ["fork", "spawn", "forkserver"])
        self.assertEqual(
            columns("cf: ThreadPool + ProcessPool fork/forkserver/spawn (process variants relevant)"),
            ["fork", "spawn", "forkserver", "threads"])
        self.assertEqual(columns("cf: plain TestCase (spawn)"), ["spawn"])
        self.assertEqual(columns("cf: plain TestCase (forkserver)"), ["forkserver"])

    def test_start_methods(self):
        self.assertEqual(columns("processes (START_METHODS={forkserver,spawn})"),
                         ["spawn", "forkserver"])

    def test_brackets_narrow(self):
        self.assertEqual(columns("processes,threads", "[processes; forkserver only] x"),
                         ["forkserver"])
        self.assertEqual(columns("processes,threads", "[skipped for threads] x"),
                         ["fork", "spawn", "forkserver"])
        self.assertEqual(columns("processes,manager,threads", "[not manager] x"),
                         ["fork", "spawn", "forkserver", "threads"])
        self.assertEqual(columns("processes", "[processes; skipped for fork] x"),
                         ["spawn", "forkserver"])
        self.assertEqual(columns("cf: ProcessPool fork/forkserver/spawn", "[main only; not fork] x"),
                         ["spawn", "forkserver"])
        self.assertEqual(
            columns("none (plain unittest.TestCase; run once per start method via test_misc)",
                    "[spawn suite only; non-Windows] x"), ["spawn"])
        self.assertEqual(columns("processes,threads", "[Windows only] x"), [])
        self.assertEqual(columns("processes,threads", "[POSIX; main only] x"),
                         ["fork", "spawn", "forkserver", "threads"])

    def test_unknown_forms_are_refused(self):
        with self.assertRaises(rc.RenderError):
            columns("processes,gpus")
        with self.assertRaises(rc.RenderError):
            columns("cf: something new")

    def test_every_row_of_the_catalogue_is_understood(self):
        rows = rc.load_catalogue()
        self.assertEqual(len(rows), 325)


class Verdicts(unittest.TestCase):
    def test_verdicts(self):
        self.assertEqual(rc.verdict([])[0], "missing")
        self.assertEqual(rc.verdict([case("pass")])[0], "pass")
        self.assertEqual(rc.verdict([case("pass"), case("fail")])[0], "fail")
        self.assertEqual(rc.verdict([case("skip", message="no signals")]),
                         ("n/a", ["no signals"]))
        self.assertEqual(rc.verdict([case("pass"), case("pass", deviation="why")]),
                         ("deviates", ["why"]))
        self.assertEqual(rc.verdict([case("fail", deviation="why")])[0], "fail")
        self.assertEqual(rc.verdict([case("pass"), case("skip")])[0], "pass")


class Enforcement(unittest.TestCase):
    def test_counts_that_do_not_add_up_are_refused(self):
        xml = ('<?xml version="1.0"?><testsuites implementation="fork" kind="processes" '
               'start_method="fork"><testsuite name="Fork/ProcessSuite/fork">'
               '<testcase name="CpuCount" classname="Fork/ProcessSuite/fork">'
               '<properties><property name="cpython_id" value="misc.cpu_count"/></properties>'
               '</testcase></testsuite></testsuites>')
        with tempfile.TemporaryDirectory() as root:
            os.makedirs(os.path.join(root, "conformance", "fork_test"))
            with open(os.path.join(root, "conformance", "fork_test", "test.xml"), "w") as f:
                f.write(xml)
            report = rc.render(root, root)
            counts = report["totals"]["all"]["fork"]
            self.assertEqual(sum(counts[k] for k in rc.VERDICTS), counts["applicable"])
            self.assertEqual(next(r for r in report["rows"] if r["id"] == "misc.cpu_count")
                             ["cells"]["fork"]["verdict"], "pass")
            # A verdict outside the five breaks the sum: the renderer refuses.
            original = rc.verdict
            rc.verdict = lambda cases: ("half-pass", []) if cases else original(cases)
            try:
                with self.assertRaises(rc.RenderError):
                    rc.render(root, root)
            finally:
                rc.verdict = original


def suite_xml(suite, test, row_id):
    return ('<?xml version="1.0"?><testsuites implementation="fork" kind="processes" '
            'start_method="fork"><testsuite name="Processes/%s/fork">'
            '<testcase name="%s" classname="Processes/%s/fork">'
            '<properties><property name="cpython_id" value="%s"/></properties>'
            '</testcase></testsuite></testsuites>' % (suite, test, suite, row_id))


def current_tests(targets):
    """MP_TEST_TARGETS set to `targets` for a with-block (as tools/test sets it)."""
    return mock.patch.dict(os.environ, {"MP_TEST_TARGETS": targets})


class Gathering(unittest.TestCase):
    def write(self, root, target, xml):
        os.makedirs(os.path.join(root, "conformance", target))
        with open(os.path.join(root, "conformance", target, "test.xml"), "w") as f:
            f.write(xml)

    def test_one_column_from_a_binary_per_suite(self):
        with tempfile.TemporaryDirectory() as root:
            self.write(root, "fork_process_test",
                       suite_xml("ProcessSuite", "CpuCount", "misc.cpu_count"))
            self.write(root, "fork_queue_test",
                       suite_xml("QueueSuite", "Put", "queue.put_get"))
            runs = rc.collect(root)
            self.assertEqual([c["name"] for c, _ in runs], ["fork"])
            self.assertEqual(sorted(case["short_name"] for case in runs[0][1]),
                             ["ProcessSuite.CpuCount", "QueueSuite.Put"])

    def test_a_test_run_by_two_binaries_is_refused(self):
        with tempfile.TemporaryDirectory() as root:
            xml = suite_xml("ProcessSuite", "CpuCount", "misc.cpu_count")
            self.write(root, "fork_test", xml)  # an old binary's log, left behind
            self.write(root, "fork_process_test", xml)
            with self.assertRaises(rc.RenderError):
                rc.collect(root)

    def test_logs_of_tests_that_no_longer_exist_are_not_read(self):
        with tempfile.TemporaryDirectory() as root:
            xml = suite_xml("ProcessSuite", "CpuCount", "misc.cpu_count")
            self.write(root, "fork_test", xml)  # an old binary's log, left behind
            self.write(root, "fork_process_test", xml)
            with current_tests("//conformance:fork_process_test,//impl:ring_test"):
                runs = rc.collect(root)
            self.assertEqual([case["short_name"] for case in runs[0][1]],
                             ["ProcessSuite.CpuCount"])

    def test_the_shards_of_a_current_test_are_read(self):
        with tempfile.TemporaryDirectory() as root:
            xml = suite_xml("ProcessSuite", "CpuCount", "misc.cpu_count")
            self.write(root, "fork_process_test/shard_1_of_2", xml)
            self.write(root, "fork_process_test/shard_2_of_2", xml)
            with current_tests("//conformance:fork_process_test"):
                found = testlogs.xml_files(root)
            self.assertEqual([t for t, _ in found],
                             ["conformance/fork_process_test/shard_1_of_2",
                              "conformance/fork_process_test/shard_2_of_2"])

    def test_a_repeated_test_counts_once_by_its_newest_log(self):
        with tempfile.TemporaryDirectory() as root:
            old = suite_xml("ProcessSuite", "Old", "misc.cpu_count")
            new = suite_xml("ProcessSuite", "New", "misc.cpu_count")
            self.write(root, "fork_process_test", old)  # a plain run, before
            self.write(root, "fork_process_test/run_1_of_2", new)
            self.write(root, "fork_process_test/run_2_of_2", new)
            top = os.path.join(root, "conformance", "fork_process_test", "test.xml")
            os.utime(top, (1, 1))
            with current_tests("//conformance:fork_process_test"):
                found = testlogs.xml_files(root)
                runs = rc.collect(root)
            self.assertEqual(len(found), 1)
            self.assertEqual([case["short_name"] for case in runs[0][1]], ["ProcessSuite.New"])
            os.utime(top, None)  # a plain run after the repeated ones
            with current_tests("//conformance:fork_process_test"):
                self.assertEqual(testlogs.xml_files(root), [("conformance/fork_process_test", top)])


if __name__ == "__main__":
    unittest.main()
