"""The benchmark renderer: one run only, medians and spreads, floors and
anomalies, the README's section."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import junit_main  # noqa: E402
import render_benchmarks as rb  # noqa: E402


def run(name, ns, index=0, unit="ns"):
    return {"name": name, "run_name": name, "run_type": "iteration", "repetition_index": index,
            "iterations": 1000, "real_time": ns, "time_unit": unit,
            "items_per_second": 1e9 / ns}


def part(run_id, runs, python=False):
    ctx = {"mp_run_id": run_id, "load_avg": [0.5, 0.4, 0.3]}
    ctx.update({"python_version": "3.11.7"} if python else {"num_cpus": 2})
    return {"context": ctx, "benchmarks": runs}


def reps(name, values):
    return [run(name, v, i) for i, v in enumerate(values)]


def doc_of(*rows):
    return {"context": {"mp_run_id": "r"}, "benchmarks": [r for rs in rows for r in rs]}


class Merge(unittest.TestCase):
    def test_refuses_parts_of_different_runs(self):
        a = part("20261206T100000Z-quick", reps("event.pingpong/impl:fork", [1]))
        b = part("20261206T110000Z-quick", reps("event.pingpong/impl:floor", [1]))
        with self.assertRaises(rb.MixedRuns) as e:
            rb.merge([("mp-001.json", a), ("mp-002.json", b)], [])
        self.assertIn("20261206T100000Z-quick", str(e.exception))
        self.assertIn("20261206T110000Z-quick", str(e.exception))

    def test_refuses_a_part_without_a_run_id(self):
        a = part("x", [])
        b = {"context": {}, "benchmarks": []}
        with self.assertRaises(rb.MixedRuns):
            rb.merge([("a.json", a), ("old.json", b)], [])

    def test_merges_the_parts_of_one_run(self):
        a = part("x", reps("event.pingpong/impl:fork", [1, 2, 3]))
        b = part("x", reps("event.pingpong/impl:cpython-fork", [9]), python=True)
        a["context"]["load_avg"] = [1.5, 1, 1]
        doc = rb.merge([("mp-001.json", a), ("cpython-001.json", b)],
                       [("mp_mode", "publish"), ("mp_notes", "one"), ("mp_notes", "two")])
        self.assertEqual(len(doc["benchmarks"]), 4)
        self.assertEqual(doc["context"]["mp_run_id"], "x")
        self.assertEqual(doc["context"]["mp_mode"], "publish")
        self.assertEqual(doc["context"]["mp_load_avg_max"], 1.5)
        self.assertEqual(doc["context"]["mp_notes"], "one; two")
        self.assertIn("CPython 3.11.7", doc["context"]["mp_python"])
        self.assertNotIn("python_version", doc["context"])


class Figures(unittest.TestCase):
    def test_median_and_spread_of_the_repetitions(self):
        stats, _ = rb.collect(doc_of(reps("a.b/impl:fork", [100, 110, 90, 1000, 105])))
        s = stats[("a.b", "fork", ())]
        self.assertEqual(s.median, 105)
        self.assertEqual((s.low, s.high), (90, 1000))
        self.assertFalse(s.unsteady)  # one outlier does not move the quartiles past 10%

    def test_unsteady_rows_are_marked(self):
        stats, _ = rb.collect(doc_of(reps("a.b/impl:fork", [100, 150, 200, 250, 300])))
        self.assertTrue(stats[("a.b", "fork", ())].unsteady)
        text, _ = rb.render_markdown(doc_of(reps("a.b/impl:fork", [100, 150, 200, 250, 300])))
        self.assertIn("†", text)

    def test_per_item_time_comes_from_items_per_second(self):
        r = run("a.b/impl:fork", 5, unit="us")
        r["items_per_second"] = 1e6  # 1000 items per 1 ms iteration
        self.assertAlmostEqual(rb.ns_per_item(r), 1000)

    def test_failed_rows_are_listed(self):
        failed = dict(run("a.b/impl:spawn", 1), error_occurred=True, error_message="boom")
        text, _ = rb.render_markdown(doc_of(reps("a.b/impl:fork", [1, 1, 1]), [failed]))
        self.assertIn("`a.b/impl:spawn`: boom", text)


class Floors(unittest.TestCase):
    def test_each_start_method_has_its_own_floor(self):
        impls = {"fork", "spawn", "forkserver", "threads", "floor", "floor-spawn",
                 "floor-forkserver", "floor-threads"}
        self.assertEqual(rb.floor_for("fork", impls), "floor")
        self.assertEqual(rb.floor_for("spawn", impls), "floor-spawn")
        self.assertEqual(rb.floor_for("cpython-forkserver", impls), "floor-forkserver")
        self.assertEqual(rb.floor_for("threads", impls), "floor-threads")
        self.assertEqual(rb.floor_for("tbb", {"tbb", "floor"}), "floor")
        self.assertEqual(rb.floor_for("tbb-spin", {"tbb-spin", "floor", "floor-threads"}),
                         "floor-threads")
        self.assertEqual(rb.floor_for("cpython-threads", {"floor", "floor-threads"}),
                         "floor-threads")
        self.assertEqual(rb.floor_for("fork", {"floor", "floor-threads"}), "floor")
        self.assertEqual(rb.floor_for("spawn", {"spawn", "floor"}), "floor")
        self.assertIsNone(rb.floor_for("spawn", {"spawn"}))

    def test_below_the_floor_is_an_anomaly(self):
        doc = doc_of(reps("x.y/impl:floor", [100, 100, 100]), reps("x.y/impl:fork", [85, 85, 85]),
                     reps("x.y/impl:spawn", [95, 95, 95]),
                     reps("x.y/impl:socket-reference", [10, 10, 10]))
        found = rb.anomalies(rb.collect(doc)[0])
        self.assertEqual([(name, fl) for name, _, fl in found], [("x.y/impl:fork", "floor")])
        self.assertAlmostEqual(found[0][1], 0.85)
        text, _ = rb.render_markdown(doc)
        anomalies = text.split("## Anomalies")[1].split("## Summary")[0]
        self.assertIn("x.y/impl:fork", anomalies)
        self.assertNotIn("spawn", anomalies)
        self.assertNotIn("socket-reference", anomalies)

    def test_rows_doing_different_work_are_marked_not_judged(self):
        doc = doc_of(reps("pipe.throughput/impl:floor/payload:1048576", [40000]),
                     reps("pipe.throughput/impl:cpython-threads/payload:1048576", [5000]))
        self.assertEqual(rb.anomalies(rb.collect(doc)[0]), [])
        text, _ = rb.render_markdown(doc)
        self.assertIn("5 µs ‡", text)
        self.assertIn("‡ cpython-threads: multiprocessing.dummy's Pipe", text)

    def test_no_anomaly_says_so(self):
        doc = doc_of(reps("x.y/impl:floor", [100]), reps("x.y/impl:fork", [300]))
        self.assertEqual(rb.anomalies(rb.collect(doc)[0]), [])
        self.assertIn("None: no implementation", rb.render_markdown(doc)[0])


class Summary(unittest.TestCase):
    def test_best_start_method_against_its_own_floor(self):
        doc = doc_of(reps("p.q/impl:fork", [300]), reps("p.q/impl:spawn", [200]),
                     reps("p.q/impl:floor", [10]), reps("p.q/impl:floor-spawn", [100]),
                     reps("p.q/impl:threads", [50]), reps("p.q/impl:cpython-fork", [4000]),
                     reps("p.q/impl:cpython-spawn", [9000]))
        here = rb.cases(rb.collect(doc)[0])["p.q"][()]
        cells = rb.summary_line("p.q", (), here)
        self.assertEqual(cells[2], "200 ns (spawn)")
        self.assertEqual(cells[3], "2.00× floor-spawn")
        self.assertEqual(cells[4], "50 ns")
        self.assertEqual(cells[6], "4 µs (fork)")
        self.assertEqual(cells[7], "20×")


class ImplementationsFromTheRun(unittest.TestCase):
    """What each implementation is comes from the run's context, so one
    adapter more (here `toy`, on threads) is a column with no edit here."""

    def doc(self):
        listed = ('[{"name":"processes","kind":"mp","processes":true},'
                  '{"name":"fork","kind":"mp","processes":true},'
                  '{"name":"threads","kind":"mp","processes":false},'
                  '{"name":"toy","kind":"mp","processes":false},'
                  '{"name":"floor","kind":"floor","processes":true},'
                  '{"name":"floor-threads","kind":"floor","processes":false}]')
        doc = doc_of(reps("p.q/impl:fork", [300]), reps("p.q/impl:threads", [60]),
                     reps("p.q/impl:toy", [50]), reps("p.q/impl:floor", [100]),
                     reps("p.q/impl:floor-threads", [25]), reps("p.q/impl:cpython-toy", [500]))
        doc["context"]["mp_implementations"] = listed
        return doc

    def tearDown(self):
        rb.learn_implementations({})

    def test_a_new_adapter_is_a_judged_column_against_its_kind_of_floor(self):
        doc = self.doc()
        text, _ = rb.render_markdown(doc)
        self.assertIn("| fork | threads | toy | floor | floor-threads | cpython-toy |", text)
        self.assertEqual(rb.floor_for("toy", {"toy", "floor", "floor-threads"}), "floor-threads")
        self.assertIn("2.00× floor-threads, cpython-toy 10×", text)

    def test_the_summary_names_the_fastest_on_threads_when_there_are_several(self):
        doc = self.doc()
        here = rb.cases(rb.collect(doc)[0])["p.q"][()]
        self.assertEqual(rb.summary_line("p.q", (), here)[4], "50 ns (toy)")

    def test_a_run_without_the_list_reads_as_before_it(self):
        rb.learn_implementations({"context": {}})
        self.assertEqual(rb.kind_of("tbb-spin"), "tbb")
        self.assertEqual(rb.of_kind("mp", processes=True), ["processes", "fork", "spawn",
                                                             "forkserver"])


class Readme(unittest.TestCase):
    def test_section_is_replaced_between_the_markers(self):
        text = "intro\n%s\nold figures\n%s\nafter\n" % (rb.README_BEGIN, rb.README_END)
        out = rb.replace_readme_section(text, rb.README_BEGIN + "\nnew\n" + rb.README_END)
        self.assertEqual(out, "intro\n%s\nnew\n%s\nafter\n" % (rb.README_BEGIN, rb.README_END))

    def test_a_readme_without_markers_is_an_error(self):
        with self.assertRaises(ValueError):
            rb.replace_readme_section("no section here", "x")

    def test_start_join_by_method_and_parent_footprint(self):
        rows = []
        for mib, fork, floor in (("0", 1000, 800), ("1024", 40000, 38000)):
            rows.append(reps("process.start_join/impl:fork/parent_mib:" + mib, [fork]))
            rows.append(reps("process.start_join/impl:floor/parent_mib:" + mib, [floor]))
            rows.append(reps("process.start_join/impl:cpython-fork/parent_mib:" + mib, [9 * fork]))
        section = rb.readme_section(doc_of(*rows))
        self.assertIn("| start method | parent_mib 0 | parent_mib 1024 |", section)
        self.assertIn("| mp fork | 1 µs (1.25× floor) | 40 µs (1.05× floor) |", section)
        self.assertIn("| CPython fork | 9 µs (11× floor) | 360 µs (9.47× floor) |", section)
        self.assertNotIn("mp spawn", section)

    def test_section_holds_the_readme_cases(self):
        doc = doc_of(reps("event.pingpong/impl:fork", [2000]), reps("event.pingpong/impl:floor",
                                                                     [500]))
        section = rb.readme_section(doc)
        self.assertTrue(section.startswith(rb.README_BEGIN))
        self.assertTrue(section.endswith(rb.README_END))
        self.assertIn("| event.pingpong | – | 2 µs (fork) | 4.00× floor |", section)


if __name__ == "__main__":
    junit_main.main(__name__)
