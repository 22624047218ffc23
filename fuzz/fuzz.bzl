"""mp_fuzz_target: a libFuzzer target and its regression test."""

load("@rules_cc//cc:defs.bzl", "cc_library", "cc_test")

def mp_fuzz_target(name, corpus, srcs, deps, mutations = 5000):
    """A fuzz target `name` (an ordinary library here; tools/fuzz builds it
    with clang's -fsanitize=fuzzer) and `name`_regression_test, which replays
    corpus/`corpus`, the target's seeds and `mutations` seeded mutations."""
    cc_library(
        name = name,
        testonly = True,
        srcs = srcs,
        deps = deps + [":fuzz_target"],
    )
    cc_test(
        name = name + "_regression_test",
        size = "medium",
        args = [
            "fuzz/corpus/" + corpus,
            "--mutations=%d" % mutations,
        ],
        data = native.glob(["corpus/" + corpus + "/*"]),
        deps = [
            ":" + name,
            ":regression_main",
        ],
    )
