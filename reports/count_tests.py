"""Prints how many GoogleTest cases passed and failed in the last `bazel test`.

The last line is `N passed, M failed` (skipped cases are counted apart, on the
line before). Exits 1 if any case failed or no test ran at all.
"""

import sys

import testlogs


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "bazel-testlogs"
    passed = failed = skipped = 0
    for target, path in testlogs.xml_files(root):
        for case in testlogs.test_cases(path):
            if case["outcome"] == "pass":
                passed += 1
            elif case["outcome"] == "fail":
                failed += 1
                print("FAILED %s: %s" % (target, case["name"]))
            else:
                skipped += 1
    print("%d skipped (a capability the implementation lacks, each with its reason)" % skipped)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
