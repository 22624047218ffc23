"""Prints how many GoogleTest cases passed and failed in one or more `bazel test` passes.

    python3 reports/count_tests.py [PASS...]

A PASS is a testlogs directory (default: bazel-testlogs), optionally named:
NAME=DIR (the sanitizer passes of tools/test each have their own output
directory). Only the logs of tests that exist now are read (testlogs.py:
MP_TEST_TARGETS). Each
pass gets a line; the last line is `N passed, M failed` over all of them
(skipped cases are counted apart, on the line before). Exits 1 if any case
failed or no test ran at all.
"""

import sys

import testlogs


def parse(spec):
    name, _, root = spec.partition("=")
    return name, root or name


def main():
    specs = sys.argv[1:] or ["bazel-testlogs"]
    passed = failed = skipped = 0
    for spec in specs:
        name, root = parse(spec)
        p = f = s = 0
        for target, path in testlogs.xml_files(root):
            for case in testlogs.test_cases(path):
                if case["outcome"] == "pass":
                    p += 1
                elif case["outcome"] == "fail":
                    f += 1
                    print("FAILED (%s) %s: %s" % (name, target, case["name"]))
                else:
                    s += 1
        if len(specs) > 1:
            print("%s: %d passed, %d failed, %d skipped" % (name, p, f, s))
        passed, failed, skipped = passed + p, failed + f, skipped + s
    print("%d skipped (a capability the implementation lacks, each with its reason)" % skipped)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
