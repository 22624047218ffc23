"""Reads the GoogleTest XML that `bazel test` leaves under bazel-testlogs/."""

import glob
import os
import re
import xml.etree.ElementTree as ET


def current_targets():
    """The tests that exist now, as package/target, when MP_TEST_TARGETS names
    them (a comma-separated list; tools/test sets it from `bazel query`);
    otherwise None. A test since renamed or removed leaves its last log behind
    under testlogs, which must not be read again."""
    listed = os.environ.get("MP_TEST_TARGETS")
    if not listed:
        return None
    return {t.strip().lstrip("/").replace(":", "/") for t in listed.split(",") if t.strip()}


def xml_files(testlogs):
    """Every test.xml under `testlogs`, as (package/target, path), of the
    current tests only when MP_TEST_TARGETS lists them. A test repeated with
    --runs_per_test (folders run_N_of_M) counts once: its newest log, which
    is one of the runs' unless a plain run's test.xml came after them."""
    current = current_targets()
    found, runs = {}, {}
    for path in sorted(glob.glob(os.path.join(testlogs, "**", "test.xml"), recursive=True)):
        target = os.path.relpath(os.path.dirname(path), testlogs)
        repeated = re.sub(r"/run_\d+_of_\d+", "", target)
        # A sharded test's logs are one folder per shard: .../shard_2_of_4.
        name = re.sub(r"/shard_\d+_of_\d+$", "", repeated)
        if current is not None and name not in current:
            continue
        if repeated != target:
            runs.setdefault(repeated, []).append(path)
        else:
            found[target] = path
    for target, paths in runs.items():
        newest = max(paths, key=os.path.getmtime)
        if target not in found or os.path.getmtime(found[target]) < os.path.getmtime(newest):
            found[target] = newest
    return sorted(found.items())


def suite_properties(path):
    """What the binary recorded about itself outside any test (GoogleTest
    writes those properties as attributes of <testsuites>)."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError:
        return {}
    standard = {"tests", "failures", "disabled", "errors", "time", "timestamp", "name"}
    return {k: v for k, v in root.attrib.items() if k not in standard}


def test_cases(path):
    """Yields one dict per GoogleTest case in the file: name, outcome
    ("pass", "fail", "skip") and its recorded properties."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError:
        yield {"name": path, "outcome": "fail", "properties": {}, "message": "unreadable XML"}
        return
    for case in root.iter("testcase"):
        props = {}
        for prop in case.iter("property"):
            props[prop.get("name")] = prop.get("value")
        # GoogleTest also writes properties as attributes of the testcase.
        for key in ("cpython_id", "mp_id"):
            if case.get(key) is not None:
                props[key] = case.get(key)
        failures = case.findall("failure") + case.findall("error")
        if failures:
            outcome = "fail"
        elif case.get("result") == "skipped" or case.get("status") == "notrun" or case.findall("skipped"):
            outcome = "skip"
        else:
            outcome = "pass"
        if failures:
            message = failures[0].get("message", "")
        elif case.findall("skipped"):
            # "conformance/suites/x.h:12\nwhy": the reason without where.
            message = case.find("skipped").get("message", "").split("\n", 1)[-1]
        else:
            message = ""
        suite = case.get("classname", "")
        yield {
            "name": "%s.%s" % (suite, case.get("name", "")),
            # "Fork/ProcessSuite/fork" + "Sentinel" -> "ProcessSuite.Sentinel"
            "short_name": "%s.%s" % ((suite.split("/") + [""])[1] or suite, case.get("name", "")),
            "outcome": outcome,
            "properties": props,
            "message": message,
        }
