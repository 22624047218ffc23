"""The implementations under test: the one list the conformance tests, the
benchmarks and both reports are built from.

Adding an implementation is an adapter in conformance/implementations/ (see
conformance/testing/contract.h for what it must provide) and one entry here.
"""

# The suites every implementation of processes (or of their API on threads)
# runs, each in its own unit (testing/instantiate.cc).
PROCESS_SUITES = [
    "connection",
    "context",
    "futures",
    "pool",
    "process",
    "queue",
    "shared_memory",
    "sharedctypes",
    "sync_manager",
    "synchronize",
]

# The start methods mp's processes are tested under.
START_METHODS = [
    "fork",
    "spawn",
    "forkserver",
]

# implementation -> struct(
#   header:     the adapter's header in conformance/implementations/
#   adapter:    the adapter type (namespace mp::conformance)
#   suites:     the suites it runs
#   columns:    optional; one report column per entry instead of one for the
#               implementation: the same compiled suites run with
#               MP_CONFORMANCE_START_METHOD set to the column (mp's processes,
#               as CPython runs one test module under each start method), and
#               the benchmarks register a row per column
#   benchmarks: whether //benchmarks registers its scenarios for it
# )
IMPLEMENTATIONS = {
    "processes": struct(
        header = "processes.h",
        adapter = "Processes",
        suites = PROCESS_SUITES + [
            "process_pool_executor",
            "resource_tracker",
        ],
        columns = START_METHODS,
        benchmarks = True,
    ),
    "threads": struct(header = "threads.h", adapter = "Threads", suites = PROCESS_SUITES, benchmarks = True),
    # Proxies, one round trip to the server per call: the scenarios, sized for
    # shared memory, would take minutes each. The manager's own rows
    # (benchmarks/manager_benchmark.cc) measure its proxies.
    "manager": struct(
        header = "manager.h",
        adapter = "ManagerImpl",
        suites = [
            "manager",
            "pool",
            "queue",
            "sync_manager",
            "synchronize",
        ],
        benchmarks = False,
    ),
}

def columns(name):
    """The report columns of one implementation."""
    return getattr(IMPLEMENTATIONS[name], "columns", [name])

def benchmarked_header():
    """The text of implementations/benchmarked.h: the benchmarked adapters,
    and a loop over them for benchmarks/harness.h."""
    impls = [(name, i) for name, i in IMPLEMENTATIONS.items() if i.benchmarks]
    lines = [
        "// Generated from conformance/implementations.bzl: the adapters the",
        "// benchmarks register their scenarios for.",
        "#ifndef MP_CONFORMANCE_IMPLEMENTATIONS_BENCHMARKED_H_",
        "#define MP_CONFORMANCE_IMPLEMENTATIONS_BENCHMARKED_H_",
        "#include <string>",
        "#include <vector>",
    ]
    lines += ["#include \"implementations/%s\"" % i.header for _, i in impls]
    lines += [
        "namespace mp::conformance {",
        "// Calls f.template operator()<Adapter>(name, columns) for each, in order.",
        "template <class F>",
        "void for_each_benchmarked(F&& f) {",
    ]
    for name, i in impls:
        cols = getattr(i, "columns", [])
        lines.append("  f.template operator()<%s>(std::string(\"%s\"), std::vector<std::string>{%s});" %
                     (i.adapter, name, ", ".join(["\"%s\"" % c for c in cols])))
    lines += ["}", "}  // namespace mp::conformance", "#endif"]
    return "\n".join(lines) + "\n"
