"""Runs a module's unittest cases and writes JUnit XML where Bazel asks
($XML_OUTPUT_FILE), one <testcase> per test, as GoogleTest does: the project's
test count (reports/count_tests.py) reads them from bazel-testlogs."""

import os
import sys
import time
import unittest
import xml.etree.ElementTree as ET


class _Recorder(unittest.TextTestResult):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cases = []
        self._started = 0.0

    def startTest(self, test):
        self._started = time.monotonic()
        super().startTest(test)

    def _record(self, test, outcome, message=""):
        self.cases.append((test, outcome, message, time.monotonic() - self._started))

    def addSuccess(self, test):
        super().addSuccess(test)
        self._record(test, "pass")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._record(test, "failure", self._exc_info_to_string(err, test))

    def addError(self, test, err):
        super().addError(test, err)
        self._record(test, "error", self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._record(test, "skipped", reason)


def write_xml(path, suite_name, cases):
    root = ET.Element("testsuites")
    suite = ET.SubElement(root, "testsuite", name=suite_name, tests=str(len(cases)),
                          failures=str(sum(c[1] == "failure" for c in cases)),
                          errors=str(sum(c[1] == "error" for c in cases)))
    for test, outcome, message, seconds in cases:
        case = ET.SubElement(suite, "testcase", name=test.id().split(".")[-1],
                             classname=type(test).__name__, time="%.3f" % seconds)
        if outcome in ("failure", "error"):
            ET.SubElement(case, outcome, message=message.strip().splitlines()[-1]).text = message
        elif outcome == "skipped":
            ET.SubElement(case, "skipped", message=message)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def main(module_name):
    """unittest.main() for `module_name`, plus the XML."""
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[module_name])
    runner = unittest.TextTestRunner(resultclass=_Recorder, verbosity=2)
    result = runner.run(suite)
    if os.environ.get("XML_OUTPUT_FILE"):
        write_xml(os.environ["XML_OUTPUT_FILE"], os.path.basename(sys.argv[0]), result.cases)
    sys.exit(0 if result.wasSuccessful() else 1)
