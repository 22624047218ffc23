"""Renders reports/conformance.md and reports/conformance.json from the test XML
of the conformance binaries (bazel-testlogs/conformance/<column>_<suite>_test/test.xml).

One row per CPython test (conformance/spec/cpython-conformance.tsv), one column
per implementation that ran. The columns, and what kind of implementation each
is (processes under a start method, threads, manager proxies), come from the
XML: each binary's main records `implementation`, `kind` and `start_method`.

Which cells a row has. A row counts in a column when its cpp_applicable is yes
or partial and CPython runs it for that kind of implementation:
  - allowed_types names the kinds ("processes,manager,threads");
  - "none (plain unittest.TestCase; run once per start method via test_misc)":
    the test uses multiprocessing's processes directly and runs once in each
    start method's package, so it concerns every process column (not threads
    or manager proxies);
  - "processes (START_METHODS={forkserver,spawn})": process columns of those
    start methods;
  - "cf: ProcessPool fork/forkserver/spawn": concurrent.futures' process pool
    under each start method: every process column;
  - "cf: ThreadPool + ProcessPool ...": process columns and threads;
  - "cf: plain TestCase (spawn)": run once, under that start method only: its
    process column;
  - the behaviour's leading [...] narrows it further where CPython skips a test
    itself: "forkserver only", "spawn suite only", "skipped for fork"/"not
    fork", "not threads", "not manager", "processes", "Windows only" (no
    column on Linux).
A value of allowed_types or a bracket this script cannot read stops it: it
refuses to guess which columns a row concerns.

A counted cell is
  pass      every mp test that mirrors the row passed;
  deviates  they passed, and one asserts mp's deliberate difference from
            CPython (it records a `deviation` property saying how and why);
  fail      at least one failed;
  n/a       the tests skipped: the implementation lacks a capability the row
            needs (the skip message says which);
  missing   no test mirrors the row (conformance/spec/notes.tsv may say why).
Cells that do not count show "-", or the outcome in parentheses when a test
ran there anyway. In every column pass + fail + deviates + n/a + missing must
equal the rows counted there; the script refuses to render otherwise.

Usage: python3 reports/render_conformance.py [bazel-testlogs] [reports]
"""

import collections
import csv
import datetime
import json
import os
import re
import sys

import testlogs

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = os.path.join(HERE, "..", "conformance", "spec")
CATALOGUE = os.path.join(SPEC, "cpython-conformance.tsv")
NOTES = os.path.join(SPEC, "notes.tsv")
PREFERRED = ["fork", "spawn", "forkserver", "threads", "manager"]
START_METHODS = ("fork", "spawn", "forkserver")
KINDS = ("processes", "threads", "manager")
# Binaries whose main predates the `kind` property.
LEGACY_KIND = {"fork": ("processes", "fork"), "spawn": ("processes", "spawn"),
               "forkserver": ("processes", "forkserver"), "threads": ("threads", ""),
               "manager": ("manager", "")}
VERDICTS = ("pass", "fail", "deviates", "n/a", "missing")


class RenderError(Exception):
    pass


# -- which columns a row concerns ------------------------------------------------

def parse_allowed(text):
    """(kinds, start methods) that allowed_types names."""
    text = text.strip()
    if text.startswith("none (plain unittest.TestCase"):
        return set(["processes"]), set(START_METHODS)
    m = re.fullmatch(r"processes \(START_METHODS=\{([a-z, ]+)\}\)", text)
    if m:
        methods = set(x.strip() for x in m.group(1).split(","))
        if not methods <= set(START_METHODS):
            raise RenderError("unknown start method in %r" % text)
        return set(["processes"]), methods
    if text == "cf: ProcessPool fork/forkserver/spawn":
        return set(["processes"]), set(START_METHODS)
    if text.startswith("cf: ThreadPool + ProcessPool fork/forkserver/spawn"):
        return set(["processes", "threads"]), set(START_METHODS)
    m = re.fullmatch(r"cf: plain TestCase \(([a-z]+)\)", text)
    if m and m.group(1) in START_METHODS:
        return set(["processes"]), set([m.group(1)])
    kinds = set(x.strip() for x in text.split(","))
    if text and kinds <= set(KINDS):
        return kinds, set(START_METHODS)
    raise RenderError("cannot tell which implementations allowed_types %r means" % text)


# Tokens of a behaviour's leading [...] that say where CPython runs the test.
BRACKET_RULES = {
    "processes": lambda k, m: (k & {"processes"}, m),
    "manager": lambda k, m: (k & {"manager"}, m),
    "forkserver only": lambda k, m: (k & {"processes"}, m & {"forkserver"}),
    "spawn suite only": lambda k, m: (k & {"processes"}, m & {"spawn"}),
    "skipped for fork": lambda k, m: (k, m - {"fork"}),
    "not fork": lambda k, m: (k, m - {"fork"}),
    "skipped for threads": lambda k, m: (k - {"threads"}, m),
    "not threads": lambda k, m: (k - {"threads"}, m),
    "not manager": lambda k, m: (k - {"manager"}, m),
    "windows only": lambda k, m: (set(), set()),
}
START_METHODS_TOKEN = re.compile(r"start_methods ([a-z, ]+)")


def concerned_by(row):
    """(kinds, start methods) of the columns CPython runs `row` in."""
    kinds, methods = parse_allowed(row["allowed_types"])
    m = re.match(r"\s*\[([^\]]*)\]", row["behaviour"])
    for token in (m.group(1).split(";") if m else []):
        token = token.strip().lower()
        rule = BRACKET_RULES.get(token)
        if rule:
            kinds, methods = rule(kinds, methods)
            continue
        sm = START_METHODS_TOKEN.fullmatch(token)
        if sm:
            methods &= set(x.strip() for x in sm.group(1).split(","))
    return kinds, methods


def concerns(where, column):
    kinds, methods = where
    if column["kind"] not in kinds:
        return False
    return column["kind"] != "processes" or column["start_method"] in methods


# -- inputs ----------------------------------------------------------------------

def load_catalogue():
    with open(CATALOGUE, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    for row in rows:
        row["applies"] = row["cpp_applicable"].split(" ")[0].rstrip(" -") in ("yes", "partial")
        row["where"] = concerned_by(row)
    return rows


def load_notes(known):
    """{(id, implementation or '*'): note} from notes.tsv."""
    notes = {}
    if not os.path.exists(NOTES):
        return notes
    with open(NOTES, newline="") as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3:
                raise RenderError("notes.tsv: expected id, columns, note: %r" % line)
            row_id, columns, note = parts
            if row_id not in known:
                raise RenderError("notes.tsv: unknown row id %s" % row_id)
            for column in columns.split(","):
                notes[(row_id, column.strip())] = note
    return notes


def collect(root):
    """[(column, [case, ...])] for the conformance binaries: one column per
    implementation, gathered from every binary that tests it (one per suite)."""
    columns = {}  # implementation -> (column, [case], {test name: target})
    for target, path in testlogs.xml_files(root):
        package, _, name = target.rpartition("/")
        if package != "conformance" or not name.endswith("_test"):
            continue
        props = testlogs.suite_properties(path)
        impl = props.get("implementation") or name[: -len("_test")]
        kind, method = props.get("kind"), props.get("start_method", "")
        if not kind:
            if impl not in LEGACY_KIND:
                raise RenderError("%s does not say what kind of implementation it is" % target)
            kind, method = LEGACY_KIND[impl]
        if kind not in KINDS:
            raise RenderError("%s: unknown kind %r" % (target, kind))
        if kind == "processes" and method not in START_METHODS:
            raise RenderError("%s: processes under an unknown start method %r" % (target, method))
        column = {"name": impl, "kind": kind, "start_method": method}
        known, cases, seen = columns.setdefault(impl, (column, [], {}))
        if known != column:
            raise RenderError("%s says %s is %r, another binary %r" % (target, impl, column, known))
        for case in testlogs.test_cases(path):
            if case["name"] in seen:
                raise RenderError("%s and %s both ran %s under %s (stale test logs? delete the "
                                  "one no longer built)" % (seen[case["name"]], target,
                                                            case["name"], impl))
            seen[case["name"]] = target
            cases.append(case)
    out = [(column, cases) for column, cases, _ in columns.values()]
    order = lambda c: (PREFERRED.index(c[0]["name"]) if c[0]["name"] in PREFERRED
                       else len(PREFERRED), c[0]["name"])
    return sorted(out, key=order)


# -- verdicts --------------------------------------------------------------------

def verdict(cases):
    """(verdict, [reasons]) of the tests that mirror one row in one column."""
    if not cases:
        return "missing", []
    if any(c["outcome"] == "fail" for c in cases):
        return "fail", [c["short_name"] for c in cases if c["outcome"] == "fail"]
    passed = [c for c in cases if c["outcome"] == "pass"]
    deviations = [c["properties"]["deviation"] for c in passed if c["properties"].get("deviation")]
    if deviations:
        return "deviates", sorted(set(deviations))
    if passed:
        return "pass", []
    return "n/a", sorted(set(c["message"] for c in cases if c["message"]))


def render(root, out_dir):
    catalogue = load_catalogue()
    known = {row["id"] for row in catalogue}
    notes = load_notes(known)
    runs = collect(root)
    if not runs:
        raise RenderError("no conformance test XML under %s; run the tests first" % root)
    columns = [c for c, _ in runs]
    names = [c["name"] for c in columns]

    by_cell = collections.defaultdict(list)  # (id, impl) -> [case]
    tests_of = collections.defaultdict(set)
    own = collections.defaultdict(dict)  # mp_id -> {impl: [case]}
    for column, cases in runs:
        for case in cases:
            props = case["properties"]
            for row_id in filter(None, (x.strip() for x in (props.get("cpython_id") or "").split(","))):
                by_cell[(row_id, column["name"])].append(case)
                tests_of[row_id].add(case["short_name"])
            if props.get("mp_id"):
                own[props["mp_id"]].setdefault(column["name"], []).append(case)
    unknown = sorted({rid for rid, _ in by_cell} - known)

    rows = []
    for row in catalogue:
        cells = {}
        for column in columns:
            cases = by_cell.get((row["id"], column["name"]), [])
            counted = row["applies"] and concerns(row["where"], column)
            v, reasons = verdict(cases)
            note = notes.get((row["id"], column["name"])) or notes.get((row["id"], "*"))
            if v == "missing" and note:
                reasons = [note]
            cells[column["name"]] = {"verdict": v if counted else ("-" if not cases else "(%s)" % v),
                                     "counted": counted, "reasons": reasons}
        rows.append({"id": row["id"], "primitive": row["primitive"], "source": row["source"],
                     "cpp_applicable": row["cpp_applicable"], "applies": row["applies"],
                     "cells": cells, "tests": sorted(tests_of.get(row["id"], []))})

    # The counts, and the check that they add up.
    def tally(selected):
        out = {}
        for column in columns:
            counted = [r for r in selected if r["cells"][column["name"]]["counted"]]
            counts = collections.Counter(r["cells"][column["name"]]["verdict"] for r in counted)
            expected = sum(1 for r in selected if r["applies"] and concerns(
                next(c["where"] for c in catalogue if c["id"] == r["id"]), column))
            counts = {k: counts.get(k, 0) for k in VERDICTS}
            if sum(counts.values()) != expected:
                raise RenderError("%s: the verdicts add up to %d, not to the %d rows counted" % (
                    column["name"], sum(counts.values()), expected))
            out[column["name"]] = dict(counts, applicable=expected)
        return out

    summary = []
    for prim in dict.fromkeys(r["primitive"] for r in rows):
        mine = [r for r in rows if r["primitive"] == prim]
        summary.append({"primitive": prim, "rows": len(mine), "columns": tally(mine)})
    totals = {"all": tally(rows),
              "mp": tally([r for r in rows if r["source"] == "mp"]),
              "cf": tally([r for r in rows if r["source"] == "cf"])}
    for scope in totals.values():
        for name in names:
            if sum(scope[name][k] for k in VERDICTS) != scope[name]["applicable"]:
                raise RenderError("totals of %s do not add up" % name)
    for name in names:
        if sum(s["columns"][name]["applicable"] for s in summary) != totals["all"][name]["applicable"]:
            raise RenderError("%s: the primitives' rows do not add up to the total" % name)

    generated = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    mp_tests = []
    for mp_id, per in sorted(own.items()):
        results = {}
        for name in names:
            results[name] = verdict(per[name])[0] if name in per else "-"
        mp_tests.append({"mp_id": mp_id, "results": results})
    report = {"generated": generated, "implementations": columns, "summary": summary,
              "totals": totals, "rows": rows, "mp_tests": mp_tests, "unknown_ids": unknown}
    with open(os.path.join(out_dir, "conformance.json"), "w") as f:
        json.dump(report, f, indent=1)
    with open(os.path.join(out_dir, "conformance.md"), "w") as f:
        f.write(markdown(report, generated))
    return report


# -- Markdown --------------------------------------------------------------------

def fmt(counts):
    return "%d / %d / %d / %d / %d of %d" % tuple(
        [counts[k] for k in VERDICTS] + [counts["applicable"]])


def percent(counts):
    return "%.1f%%" % (100.0 * counts["pass"] / counts["applicable"]) if counts["applicable"] else "-"


def shown(cell):
    v = cell["verdict"]
    return "**deviates**" if v == "deviates" else v


def markdown(report, generated):
    columns = report["implementations"]
    names = [c["name"] for c in columns]
    what = ", ".join("`%s` (%s)" % (c["name"], c["kind"] + (" under " + c["start_method"]
                                                             if c["start_method"] else ""))
                     for c in columns)
    totals = report["totals"]
    cf_missing = {n: totals["cf"][n]["missing"] for n in names if totals["cf"][n]["missing"]}
    lines = [
        "# Conformance: mp against CPython's multiprocessing test suite",
        "",
        "Rendered %s by `reports/render_conformance.py` from the GoogleTest XML of "
        "`//conformance:<column>_<suite>_test`. One row per test of CPython's suite "
        "(`conformance/spec/cpython-conformance.tsv`), one column per implementation: %s."
        % (generated, what),
        "",
        "A row counts in a column when C++ can reproduce it (`cpp_applicable` yes or partial) and "
        "CPython runs it for that kind of implementation: `allowed_types` names the kinds; a plain "
        "`unittest.TestCase` of `test_misc` runs once per start method with real processes, so it "
        "counts in every process column; a `cf` row counts in the process columns (and threads for "
        "ThreadPool rows), a `cf: plain TestCase (spawn)` row only under spawn; a leading "
        "`[forkserver only]`, `[not fork]`, `[Windows only]`... narrows it as CPython's own skip "
        "does. Cells: **pass**; **deviates** (the test asserts mp's deliberate difference from "
        "CPython and says how and why, listed below); **fail**; **n/a** (the implementation "
        "lacks a capability the row needs; the reason is listed below); **missing** (no mp test "
        "mirrors the row; the note says why where C++ cannot honour it); **-** (not counted: "
        "the row does not apply to C++ or CPython does not run it there; an outcome in "
        "parentheses is a test that ran there anyway).",
        "",
        "## Summary",
        "",
        "Each cell: pass / fail / deviates / n/a / missing of the rows counted in that column; "
        "the renderer checks that they add up.",
        "",
        "| primitive | rows | " + " | ".join(names) + " |",
        "|---|---:|" + "---|" * len(names),
    ]
    for s in report["summary"]:
        lines.append("| %s | %d | %s |" % (s["primitive"], s["rows"],
                                           " | ".join(fmt(s["columns"][n]) for n in names)))
    for scope, label in (("mp", "**source=mp** (`_test_multiprocessing.py`)"),
                         ("cf", "**source=cf** (`test_concurrent_futures`)"),
                         ("all", "**all rows**")):
        lines.append("| %s | | %s |" % (label, " | ".join(fmt(totals[scope][n]) for n in names)))
    lines.append("| source=mp rows passing | | %s |" % " | ".join(
        percent(totals["mp"][n]) for n in names))
    lines.append("")
    if cf_missing:
        lines += ["The `cf.*` rows are CPython's `concurrent.futures` process-pool tests; %s of "
                  "them are **missing** (%s) until mp's executor (`mp::futures`, issue 20) "
                  "mirrors them. They count here so that the gap shows." % (
                      "all" if all(totals["cf"][n]["missing"] == totals["cf"][n]["applicable"]
                                   for n in cf_missing) else "some",
                      ", ".join("%s: %d" % (n, m) for n, m in cf_missing.items())), ""]

    lines += ["## Rows", ""]
    for prim in dict.fromkeys(r["primitive"] for r in report["rows"]):
        lines += ["### " + prim, "", "| CPython test | applies | " + " | ".join(names) +
                  " | mp test |", "|---|---|" + "---|" * len(names) + "---|"]
        for r in report["rows"]:
            if r["primitive"] != prim:
                continue
            applies = r["cpp_applicable"].split(" ")[0].rstrip(" -")
            lines.append("| `%s` | %s | %s | %s |" % (
                r["id"], applies, " | ".join(shown(r["cells"][n]) for n in names),
                ", ".join(r["tests"])))
        lines.append("")

    def explained(verdict_name, title, intro):
        entries = collections.OrderedDict()
        for r in report["rows"]:
            for n in names:
                cell = r["cells"][n]
                if cell["counted"] and cell["verdict"] == verdict_name and cell["reasons"]:
                    key = (r["id"], tuple(cell["reasons"]))
                    entries.setdefault(key, []).append(n)
        if not entries:
            return []
        out = ["## " + title, "", intro, "", "| row | columns | why |", "|---|---|---|"]
        for (row_id, reasons), where in entries.items():
            text = " ".join(x.replace("\n", " ").replace("|", "\\|") for x in reasons)
            out.append("| `%s` | %s | %s |" % (row_id, ", ".join(where), text))
        return out + [""]

    lines += explained("deviates", "Deviations",
                       "Where mp deliberately behaves otherwise than CPython; the test asserts "
                       "mp's behaviour.")
    lines += explained("n/a", "n/a: what the implementation lacks",
                       "The skip message of each test that stood down.")
    lines += explained("missing", "Missing rows with a note",
                       "From `conformance/spec/notes.tsv`.")
    unexplained = sorted({r["id"] for r in report["rows"] for n in names
                          if r["cells"][n]["counted"] and r["cells"][n]["verdict"] == "missing"
                          and not r["cells"][n]["reasons"]})
    if unexplained:
        lines += ["Missing without a note: " + ", ".join("`%s`" % x for x in unexplained), ""]

    lines += ["## mp's own tests (no CPython twin)", "",
              "**-**: the suite holding the test does not run against that implementation.", "",
              "| mp_id | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for t in report["mp_tests"]:
        lines.append("| `%s` | %s |" % (t["mp_id"], " | ".join(t["results"][n] for n in names)))
    if report["unknown_ids"]:
        lines += ["", "Ids recorded by tests but absent from the catalogue: " +
                  ", ".join(report["unknown_ids"])]
    return "\n".join(lines) + "\n"


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "bazel-testlogs"
    out_dir = sys.argv[2] if len(sys.argv) > 2 else HERE
    try:
        report = render(root, out_dir)
    except RenderError as e:
        print("render_conformance: refusing to render: %s" % e)
        return 1
    names = [c["name"] for c in report["implementations"]]
    print("render_conformance: wrote %s/conformance.md and conformance.json (%s)" % (
        out_dir, ", ".join("%s %s" % (n, fmt(report["totals"]["all"][n])) for n in names)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
