"""Renders reports/conformance.md and reports/conformance.json from the test XML
of the conformance binaries (bazel-testlogs/conformance/<impl>_test/test.xml).

One row per CPython test (conformance/spec/cpython-conformance.tsv), one column
per implementation. A cell is
  pass     every mp test that mirrors the row passed,
  fail     at least one failed,
  n/a      the tests skipped: the implementation lacks what the row needs,
  missing  no test mirrors the row yet,
  -        the row does not apply to C++ (cpp_applicable = no).

Usage: python3 reports/render_conformance.py [bazel-testlogs] [reports]
"""

import csv
import datetime
import json
import os
import sys

import testlogs

HERE = os.path.dirname(os.path.abspath(__file__))
CATALOGUE = os.path.join(HERE, "..", "conformance", "spec", "cpython-conformance.tsv")
PREFERRED = ["fork", "spawn", "forkserver", "threads", "manager", "tbb", "boost_interprocess", "mpi"]
# The kind of each implementation, as the catalogue's allowed_types names it.
KIND = {"fork": "processes", "spawn": "processes", "forkserver": "processes",
        "threads": "threads", "manager": "manager"}


def load_catalogue():
    with open(CATALOGUE, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    for row in rows:
        row["applies"] = row["cpp_applicable"].split(" ")[0].rstrip(" -")
    return rows


def collect(root):
    """{impl: [case, ...]} for the conformance binaries."""
    by_impl = {}
    for target, path in testlogs.xml_files(root):
        package, _, name = target.rpartition("/")
        if package != "conformance" or not name.endswith("_test"):
            continue
        by_impl[name[: -len("_test")]] = list(testlogs.test_cases(path))
    return by_impl


def order(impls):
    return sorted(impls, key=lambda i: (PREFERRED.index(i) if i in PREFERRED else len(PREFERRED), i))


def cell(outcomes):
    if not outcomes:
        return "missing"
    if "fail" in outcomes:
        return "fail"
    if "pass" in outcomes:
        return "pass"
    return "n/a"


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "bazel-testlogs"
    out_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE)
    catalogue = load_catalogue()
    by_impl = collect(root)
    impls = order(by_impl)
    if not impls:
        print("render_conformance: no conformance test XML under %s; run the tests first" % root)
        return 1

    outcomes = {}  # (id, impl) -> [outcome]
    tests_of = {}  # id -> set of test names
    own = {}  # mp_id -> {impl: [outcome]}
    for impl in impls:
        for case in by_impl[impl]:
            props = case["properties"]
            for row_id in filter(None, (props.get("cpython_id") or "").split(",")):
                outcomes.setdefault((row_id.strip(), impl), []).append(case["outcome"])
                tests_of.setdefault(row_id.strip(), set()).add(case["short_name"])
            if props.get("mp_id"):
                own.setdefault(props["mp_id"], {}).setdefault(impl, []).append(case["outcome"])

    known = {row["id"] for row in catalogue}
    unknown = sorted({rid for rid, _ in outcomes} - known)

    rows = []
    for row in catalogue:
        applies = row["applies"] in ("yes", "partial")
        allowed = set(filter(None, (row.get("allowed_types") or "").split(",")))
        results = {}
        for impl in impls:
            got = outcomes.get((row["id"], impl), [])
            # CPython runs a row only for some kinds of implementation
            # (processes, threads, manager): the others show "-".
            kind = KIND.get(impl)
            concerned = not allowed or kind is None or kind in allowed
            results[impl] = cell(got) if ((applies and concerned) or got) else "-"
        rows.append({
            "id": row["id"],
            "primitive": row["primitive"],
            "cpp_applicable": row["cpp_applicable"],
            "applies": applies,
            "results": results,
            "tests": sorted(tests_of.get(row["id"], [])),
        })

    primitives = []
    for prim in dict.fromkeys(r["primitive"] for r in rows):
        mine = [r for r in rows if r["primitive"] == prim]
        applicable = [r for r in mine if r["applies"]]
        summary = {"primitive": prim, "rows": len(mine), "applicable": len(applicable)}
        for impl in impls:
            cells = [r["results"][impl] for r in applicable]
            summary[impl] = {k: cells.count(k) for k in ("pass", "fail", "n/a", "missing")}
        primitives.append(summary)

    generated = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    report = {
        "generated": generated,
        "implementations": impls,
        "summary": primitives,
        "rows": rows,
        # An mp test that did not run for an implementation belongs to a
        # suite that is not instantiated there (pools on a manager, managers
        # on a bare start method): '-', not missing.
        "mp_tests": [{"mp_id": k, "results": {i: cell(v[i]) if v.get(i) else "-" for i in impls}}
                     for k, v in sorted(own.items())],
        "unknown_ids": unknown,
    }
    with open(os.path.join(out_dir, "conformance.json"), "w") as f:
        json.dump(report, f, indent=1)

    lines = [
        "# Conformance: mp against CPython's multiprocessing test suite",
        "",
        "Rendered %s by `reports/render_conformance.py` from the GoogleTest XML of "
        "`//conformance:<impl>_test`. One row per test of CPython's suite "
        "(`conformance/spec/cpython-conformance.tsv`); cells: **pass**, **fail**, **n/a** (the "
        "implementation lacks what the row needs; the test skipped, saying why), **missing** (no "
        "mp test mirrors the row yet), **-** (the row does not apply to C++, or CPython runs it "
        "only for other kinds of implementation)." % generated,
        "",
        "## Summary (applicable rows: pass / fail / n/a / missing)",
        "",
        "| primitive | rows | applicable | " + " | ".join(impls) + " |",
        "|---|---:|---:|" + "---|" * len(impls),
    ]
    for s in primitives:
        cols = ["%d / %d / %d / %d" % (s[i]["pass"], s[i]["fail"], s[i]["n/a"], s[i]["missing"])
                for i in impls]
        lines.append("| %s | %d | %d | %s |" % (s["primitive"], s["rows"], s["applicable"], " | ".join(cols)))
    lines += ["", "## Rows", ""]
    for prim in dict.fromkeys(r["primitive"] for r in rows):
        lines += ["### " + prim, "", "| CPython test | applies | " + " | ".join(impls) + " | mp test |",
                  "|---|---|" + "---|" * len(impls) + "---|"]
        for r in rows:
            if r["primitive"] != prim:
                continue
            applies = r["cpp_applicable"].split(" ")[0].rstrip(" -")
            lines.append("| `%s` | %s | %s | %s |" % (
                r["id"], applies, " | ".join(r["results"][i] for i in impls), ", ".join(r["tests"])))
        lines.append("")
    lines += ["## mp's own tests (no CPython twin)", "",
              "**-**: the suite holding the test does not run against that implementation.", "",
              "| mp_id | " + " | ".join(impls) + " |", "|---|" + "---|" * len(impls)]
    for t in report["mp_tests"]:
        lines.append("| `%s` | %s |" % (t["mp_id"], " | ".join(t["results"][i] for i in impls)))
    if unknown:
        lines += ["", "Ids recorded by tests but absent from the catalogue: " + ", ".join(unknown)]
    with open(os.path.join(out_dir, "conformance.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("render_conformance: wrote %s/conformance.md and conformance.json (%d implementations)"
          % (out_dir, len(impls)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
