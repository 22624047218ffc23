"""Prints how many GoogleTest cases passed and failed in one or more `bazel test` passes.

    python3 reports/count_tests.py [PASS...]

A PASS is a testlogs directory (default: bazel-testlogs), optionally named and
restricted to some targets: NAME=DIR or NAME=DIR=pkg/target,pkg/target (the
sanitizer passes of tools/test each have their own output directory). Each
pass gets a line; the last line is `N passed, M failed` over all of them
(skipped cases are counted apart, on the line before). Exits 1 if any case
failed or no test ran at all.
"""

import sys

import testlogs


def parse(spec):
    parts = spec.split("=")
    if len(parts) == 1:
        return parts[0], parts[0], None
    targets = set(parts[2].split(",")) if len(parts) > 2 and parts[2] else None
    return parts[0], parts[1], targets


def main():
    specs = sys.argv[1:] or ["bazel-testlogs"]
    passed = failed = skipped = 0
    for spec in specs:
        name, root, targets = parse(spec)
        p = f = s = 0
        for target, path in testlogs.xml_files(root):
            if targets is not None and target not in targets:
                continue
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
