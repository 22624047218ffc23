"""Merges the parts of one benchmark run and renders its report.

  render_benchmarks.py --out DIR [--readme README.md] [--context KEY=VALUE ...] FILE.json...
  render_benchmarks.py --from DIR/benchmarks.json --out DIR [--readme README.md]

The first form takes the parts run.sh wrote (mp's cases and CPython's, Google
Benchmark's JSON schema, one iteration row per repetition), refuses them
unless they all carry the same run id (context mp_run_id), and writes
DIR/benchmarks.json: one document, the context of mp's first part plus the
KEY=VALUE pairs. The second form re-renders a merged document.

Both write DIR/benchmarks.md (anomalies, a summary, then a table and a plot
per scenario) and DIR/plots/<scenario>.png when matplotlib is there, and with
--readme the README's results section (between its benchmarks:begin and
benchmarks:end markers). Every figure is the median of a row's repetitions;
ratios compare rows of this one run only.

Row names are `<primitive>.<scenario>/impl:<impl>/<arg>:<value>...`.
"""

import argparse
import json
import os
import re
import statistics
import sys

# What each implementation is, from the JSON's context (mp_implementations,
# which mp_benchmarks writes from the adapters it registered and the names
# of its other rows): {name: (kind, processes)} in the tables' column order.
# Kinds: "mp" (an adapter of conformance/implementations.bzl), "tbb",
# "floor", "reference"; CPython's rows are cpython-<an mp column>.
KIND_ORDER = ["mp", "tbb", "floor", "reference"]
# For runs recorded before the context said so.
LEGACY_IMPLEMENTATIONS = (
    [(name, "mp", True) for name in ("processes", "fork", "spawn", "forkserver")] +
    [("threads", "mp", False)] +
    [(name, "tbb", False) for name in ("tbb", "tbb-spin", "tbb-queuing")] +
    [(name, "floor", True) for name in ("floor", "floor-spawn", "floor-forkserver")] +
    [("floor-threads", "floor", False), ("socket-reference", "reference", True)])
IMPLEMENTATIONS = {}


def learn_implementations(doc):
    """Sets IMPLEMENTATIONS from a run's context."""
    listed = doc.get("context", {}).get("mp_implementations")
    entries = ([(i["name"], i["kind"], i["processes"]) for i in json.loads(listed)]
               if listed else LEGACY_IMPLEMENTATIONS)
    entries = sorted(entries, key=lambda e: KIND_ORDER.index(e[1]) if e[1] in KIND_ORDER else 99)
    IMPLEMENTATIONS.clear()
    IMPLEMENTATIONS.update({name: (kind, processes) for name, kind, processes in entries})


learn_implementations({})


def base_of(impl):
    """The mp implementation a CPython row stands beside (cpython-fork: fork)."""
    return impl[len("cpython-"):] if impl.startswith("cpython-") else impl


def kind_of(impl):
    if impl.startswith("cpython-"):
        return "cpython"
    return IMPLEMENTATIONS.get(impl, ("reference", True))[0]


def of_kind(kind, processes=None):
    """The implementations of a kind (and, if given, with processes or not)."""
    return [name for name, (k, p) in IMPLEMENTATIONS.items()
            if k == kind and (processes is None or p == processes)]


UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
FLOORS_NOTE = ("floor-threads: the same with threads of one process, the floor of mp::dummy's, "
               "TBB's and CPython's threads (a switch between threads is cheaper than between "
               "processes).")
# A row is unsteady when the interquartile range of its repetitions is more
# than this fraction of their median; an implementation is an anomaly when
# its median is below this fraction of its floor's.
UNSTEADY = 0.10
BELOW_FLOOR = 0.9
README_BEGIN = "<!-- benchmarks:begin -->"
README_END = "<!-- benchmarks:end -->"

# What a reader needs to know about a scenario's rows: how its floor works,
# and where CPython's rows cannot do exactly what mp's do.
NOTES = {
    "process.start_join": "floor: fork + `_exit` + `waitpid`; floor-spawn: `posix_spawn` of the "
    "benchmark program told to exit at once; floor-forkserver: a server spawned small forks on "
    "request over a socket; floor-threads: a detached pthread that flags it is done (what "
    "`mp::dummy::Process::join` waits for). The parent has touched `parent_mib` MiB of memory.",
    "event.pingpong": "floor: a turn word in shared memory handed back and forth, spinning "
    "before a futex sleep.",
    "condition.pingpong": "floor: the same handoff as event.pingpong's.",
    "barrier.cycle": "floor: a sense-reversing barrier on a spin-then-futex handoff.",
    "lock.uncontended": "floor: a spin lock in shared memory (test-and-set, a store to let go).",
    "lock.contended": "floor: two processes, a spin lock with exponential backoff in shared "
    "memory (as oneTBB's spin_mutex). CPython's parties make 20 000 increments per round, "
    "mp's 100 000 (per-increment figures).",
    "value.increment_locked": "One lock pair per increment everywhere (CPython: `with lock: "
    "raw.value += 1`, raw = `v.get_obj()`). floor: lock.contended's spin lock. "
    "multiprocessing.dummy's Value has no lock: cpython-threads takes a dummy RLock, as "
    "mp::dummy's Value does.",
    "rlock.uncontended": "floor: lock.uncontended's spin lock, with an owner and a depth.",
    "semaphore.uncontended": "floor: lock.uncontended's spin lock.",
    "rawvalue.atomic_increment": "floor: the same `fetch_add`s on one counter between two "
    "threads: the work itself, which mp can match but not beat.",
    "queue.pingpong": "floor: 8 bytes there and back through a shared mailbox, spin-then-futex.",
    "queue.throughput": "floor: a single-producer single-consumer ring in shared memory, both "
    "sides spinning (1 → 1 only). CPython moves 10 000 items per round, mp 100 000 "
    "(per-item figures).",
    "simplequeue.throughput": "floor: queue.throughput's ring. cpython-threads uses "
    "`queue.SimpleQueue` (multiprocessing.dummy has none).",
    "joinablequeue.task_done": "CPython's rounds are 2 000 items, mp's 10 000 (per-item figures).",
    "pipe.throughput": "floor: a ring of bytes in shared memory (a copy in, a copy out, no system "
    "call); socket-reference: the same messages on a plain socketpair (not a floor: mp's Pipe "
    "enlarges its socket buffers).",
    "pipe.pingpong": "floor: 64 bytes there and back through a shared mailbox; socket-reference: "
    "the same on a plain socketpair.",
    "listener.roundtrip": "floor: bare socket/connect/accept with the same framing.",
    "pool.map": "floor: the caller and width − 1 forked workers each take a lane of a task array "
    "in shared memory and claim chunks of it (one task per claim for chunksize 1), then steal "
    "from the other lanes; rounds start and end through spin-then-futex handoffs. tbb: "
    "`parallel_for` in an arena of the same width.",
    "pool.imap_unordered": "floor: pool.map's floor, one task per claim.",
    "pool.apply.roundtrip": "floor: 8 bytes there and back through a shared mailbox; tbb: a task "
    "enqueued into an arena whose own threads run it.",
    "manager.dict_get": "floor: a request and a reply of the bytes mp's call encodes, through a "
    "shared mailbox; socket-reference: the same on a socketpair, what CPython's manager (a "
    "socket per client) is bounded by. CPython's clients:2 rows make 200 calls per round, "
    "mp's 1 000.",
    "manager.dict_set": "floor and socket-reference as manager.dict_get's.",
    "manager.list_append": "floor and socket-reference as manager.dict_get's.",
    "manager.lock_acquire_release": "Two round trips per item; floor and socket-reference as "
    "manager.dict_get's.",
    "array.fill": "floor: memcpy into a shared memfd mapping; floor-threads: into private memory, "
    "as mp::dummy's Array. multiprocessing.dummy's Array is an `array.array`.",
}

# Rows that cannot do what the others of their name do: marked ‡ with this
# note, and not held to the floor.
_BY_REFERENCE = ("multiprocessing.dummy's %s hands the receiver a reference to the sender's "
                 "object: no byte is copied")
DIFFERENT_WORK = {
    ("pipe.throughput", "cpython-threads"): _BY_REFERENCE % "Pipe (a pair of queues)",
    ("pipe.pingpong", "cpython-threads"): _BY_REFERENCE % "Pipe (a pair of queues)",
    ("queue.throughput", "cpython-threads"): _BY_REFERENCE % "Queue (queue.Queue)",
    ("queue.pingpong", "cpython-threads"): _BY_REFERENCE % "Queue (queue.Queue)",
}

# The cases of the README's table: (scenario, arguments). process.start_join
# has a table of its own there (start_join_table).
README_CASES = [
    ("lock.uncontended", ()),
    ("lock.contended", (("parties", "2"),)),
    ("event.pingpong", ()),
    ("condition.pingpong", ()),
    ("barrier.cycle", (("parties", "2"),)),
    ("pipe.pingpong", (("payload", "64"),)),
    ("pipe.throughput", (("payload", "1048576"),)),
    ("queue.throughput", (("producers", "1"), ("consumers", "1"), ("payload", "8"))),
    ("queue.pingpong", (("payload", "8"),)),
    ("pool.map", (("tasks", "100000"), ("grain_ns", "0"), ("chunksize", "0"))),
    ("pool.map", (("tasks", "10000"), ("grain_ns", "0"), ("chunksize", "1"))),
    ("pool.apply.roundtrip", ()),
    ("value.increment_locked", ()),
    ("array.fill", (("size", "1048576"),)),
    ("manager.dict_get", ()),
    ("manager.lock_acquire_release", ()),
]


class MixedRuns(Exception):
    pass


# Reading -------------------------------------------------------------------------


def parse_name(name):
    parts = name.split("/")
    impl = None
    args = []
    for p in parts[1:]:
        key, _, value = p.partition(":")
        if key == "impl":
            impl = value
        else:
            args.append((key, value))
    return parts[0], impl, tuple(args)


def merge(parts, extra_context):
    """One document from run.sh's parts [(path, doc)]; MixedRuns unless every
    part carries the same run id."""
    ids = {}
    for path, part in parts:
        ids.setdefault(part.get("context", {}).get("mp_run_id"), []).append(path)
    if None in ids:
        raise MixedRuns("%s carries no run id (mp_run_id): not a part of a run.sh run"
                        % ids[None][0])
    if len(ids) > 1:
        raise MixedRuns("parts of different runs: %s" % "; ".join(
            "%s (%s)" % (run_id, ", ".join(os.path.basename(p) for p in paths[:3]))
            for run_id, paths in sorted(ids.items())))
    doc = {"context": {}, "benchmarks": []}
    loads = []
    for _, part in parts:
        ctx = part.get("context", {})
        if "python_version" in ctx:
            doc["context"].setdefault("mp_python", "CPython %s (%s)" % (
                ctx["python_version"], ctx.get("executable", "python3")))
        elif not doc["context"].get("num_cpus"):
            doc["context"].update({k: v for k, v in ctx.items() if k != "load_avg"})
        if ctx.get("load_avg"):
            loads.append(ctx["load_avg"][0])
        doc["benchmarks"].extend(part.get("benchmarks", []))
    if loads:
        doc["context"]["mp_load_avg_max"] = round(max(loads), 2)
    notes = []
    for key, value in extra_context:
        if key == "mp_notes":
            notes.append(value)
        else:
            doc["context"][key] = value
    if doc["context"].get("library_build_type") == "debug":
        notes.append("Debian's libbenchmark is a debug build (it warns \"Library was built as "
                     "DEBUG\"); mp's own code is optimized")
    if notes:
        doc["context"]["mp_notes"] = "; ".join(notes)
    return doc


def ns_per_item(run):
    if run.get("items_per_second"):
        return 1e9 / run["items_per_second"]
    return run["real_time"] * UNIT_NS.get(run.get("time_unit", "ns"), 1.0)


class Stats:
    """A row's repetitions: median, quartiles, range (ns per item)."""

    def __init__(self, values):
        self.values = sorted(values)
        self.n = len(values)
        self.median = statistics.median(self.values)
        self.low, self.high = self.values[0], self.values[-1]
        if self.n >= 3:
            q = statistics.quantiles(self.values, n=4, method="inclusive")
            self.q1, self.q3 = q[0], q[2]
        else:
            self.q1, self.q3 = self.low, self.high
        self.spread = (self.q3 - self.q1) / self.median if self.median else 0.0
        self.unsteady = self.n >= 3 and self.spread > UNSTEADY


def collect(doc):
    """({(scenario, impl, args): Stats}, {name: error message})."""
    learn_implementations(doc)
    values, errors = {}, {}
    for run in doc["benchmarks"]:
        if run.get("run_type", "iteration") != "iteration":
            continue
        name = run.get("run_name", run["name"])
        scenario, impl, args = parse_name(name)
        if impl is None:
            continue
        if run.get("error_occurred"):
            errors[name] = run.get("error_message", "error")
            continue
        values.setdefault((scenario, impl, args), []).append(ns_per_item(run))
    return {key: Stats(v) for key, v in values.items()}, errors


def floor_for(impl, impls):
    """The floor an implementation is judged against: its own kind's where
    the case has one (floor-spawn for spawn, floor-forkserver for forkserver,
    floor-threads for implementations on threads: mp's, TBB's and CPython's),
    else the case's floor."""
    base = base_of(impl)
    own = "floor-" + base
    if own in impls:
        return own
    if not IMPLEMENTATIONS.get(base, ("", True))[1] and "floor-threads" in impls:
        return "floor-threads"
    return "floor" if "floor" in impls else None


def is_judged(impl, scenario=None):
    """Implementations held to a floor: mp's, TBB's and CPython's (not the
    floors, not reference rows, not rows that do different work)."""
    return kind_of(impl) in ("mp", "tbb", "cpython") and (scenario, impl) not in DIFFERENT_WORK


def cases(stats):
    """{scenario: {args: {impl: Stats}}}."""
    out = {}
    for (scenario, impl, args), s in stats.items():
        out.setdefault(scenario, {}).setdefault(args, {})[impl] = s
    return out


def anomalies(stats):
    """[(name, ratio, floor)] of every implementation below BELOW_FLOOR × its
    floor."""
    found = []
    for scenario, by_args in sorted(cases(stats).items()):
        for args, here in sorted(by_args.items(), key=lambda kv: arg_key(kv[0])):
            for impl in order(here):
                fl = floor_for(impl, here)
                if not is_judged(impl, scenario) or not fl:
                    continue
                ratio = here[impl].median / here[fl].median
                if ratio < BELOW_FLOOR:
                    found.append((row(scenario, impl, args), ratio, fl))
    return found


# Formatting ----------------------------------------------------------------------


def row(scenario, impl, args):
    return "%s/impl:%s%s" % (scenario, impl, "".join("/%s:%s" % kv for kv in args))


def fmt_time(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return "%.3g %s" % (ns / scale, unit)
    return "%.3g ns" % ns


def fmt_ratio(x):
    if x >= 10:
        return "%.0f×" % x
    if x >= 0.1:
        return "%.2f×" % x
    return "%.2g×" % x


def fmt_stats(s, different=False):
    """'2.31 µs ±4%', with † when unsteady (± is half the interquartile
    range) and ‡ when the row does different work."""
    text = fmt_time(s.median)
    if s.n >= 3:
        text += " ±%.0f%%" % (50 * s.spread)
    if s.unsteady:
        text += " †"
    if different:
        text += " ‡"
    return text


def order(impls):
    """Columns: mp's, TBB's, the floors, the references, then CPython's in
    the order of the implementations they stand beside."""
    known = list(IMPLEMENTATIONS)

    def key(i):
        base = base_of(i)
        return (i.startswith("cpython-"), known.index(base) if base in known else len(known), i)
    return sorted(impls, key=key)


def arg_key(args):
    return [(0, float(v), "") if re.match(r"^-?\d+(\.\d+)?$", v) else (1, 0.0, v)
            for _, v in args]


def case_label(args):
    return ", ".join("%s %s" % kv for kv in args) or "–"


def best(here, impls):
    """(impl, Stats) of the fastest of `impls` in a case, or None."""
    present = [(here[i].median, i) for i in impls if i in here]
    if not present:
        return None
    _, impl = min(present)
    return impl, here[impl]


def summary_line(scenario, args, here):
    """The summary table's cells for one case."""
    cells = [scenario, case_label(args)]
    mp_processes = of_kind("mp", processes=True)
    mp = best(here, mp_processes)
    if mp:
        impl, s = mp
        cells.append("%s (%s)" % (fmt_stats(s), impl))
        fl = floor_for(impl, here)
        cells.append(fmt_ratio(s.median / here[fl].median) + " " + fl if fl else "")
    else:
        cells += ["", ""]
    on_threads = of_kind("mp", processes=False)
    threads = best(here, on_threads)
    if threads and len(on_threads) > 1:
        cells.append("%s (%s)" % (fmt_stats(threads[1]), threads[0]))
    else:
        cells.append(fmt_stats(threads[1]) if threads else "")
    tbb = best(here, of_kind("tbb"))
    cells.append("%s (%s)" % (fmt_stats(tbb[1]), tbb[0]) if tbb else "")
    cp = best(here, ["cpython-" + i for i in mp_processes])
    if cp:
        impl, s = cp
        cells.append("%s (%s)" % (fmt_stats(s), impl[len("cpython-"):]))
        cells.append(fmt_ratio(s.median / mp[1].median) if mp else "")
    else:
        cells += ["", ""]
    return cells


SUMMARY_HEADER = ["scenario", "case", "mp, best start method", "mp ÷ its floor", "threads (mp)",
                  "TBB", "CPython, best start method", "CPython ÷ mp"]


def table(header, lines, right_from):
    out = ["| " + " | ".join(header) + " |",
           "|" + "".join("---:|" if i >= right_from else "---|" for i in range(len(header)))]
    out += ["| " + " | ".join(cells) + " |" for cells in lines]
    return out


def provenance(ctx):
    parts = ["run `%s`" % ctx.get("mp_run_id", "?"), "mode %s" % ctx.get("mp_mode", "?")]
    if "mp_repetitions" in ctx:
        parts.append("%s repetitions of ≥ %s s per row" % (ctx["mp_repetitions"],
                                                          ctx.get("mp_min_time", "?")))
    if "mp_duration_s" in ctx:
        seconds = int(ctx["mp_duration_s"])
        parts.append("%d min %02d s in all" % (seconds // 60, seconds % 60))
    if "mp_load_avg_max" in ctx:
        parts.append("load average ≤ %s" % ctx["mp_load_avg_max"])
    return ", ".join(parts)


def render_markdown(doc):
    """benchmarks.md, and the plots it refers to: (text, [(stem, title, by_args, impls)])."""
    ctx = doc.get("context", {})
    stats, errors = collect(doc)
    by_scenario = cases(stats)
    lines = ["# Benchmarks", ""]
    lines.append("Rendered by `reports/render_benchmarks.py` from `benchmarks.json`, written by "
                 "`%s` (%s). Every figure is the time per operation (lower is better), the "
                 "median of a row's repetitions; ± is half their interquartile range relative "
                 "to the median, † marks an unsteady row (interquartile range over %d%% of "
                 "the median), ‡ a row that cannot do the same work as the others of its "
                 "name (the scenario says how); the plots show each row's range. Ratios "
                 "compare rows of this one run only." % (ctx.get("mp_command", "bazel run //benchmarks"),
                                    provenance(ctx), 100 * UNSTEADY))
    lines += ["", "## Anomalies", ""]
    found = anomalies(stats)
    if found:
        lines.append("Implementations below %.1f× their floor (a floor must be a lower bound: "
                     "the floor is wrong):" % BELOW_FLOOR)
        lines.append("")
        lines += ["- `%s`: %s %s" % (name, fmt_ratio(r), fl) for name, r, fl in found]
    else:
        lines.append("None: no implementation is below %.1f× its floor." % BELOW_FLOOR)
    if errors:
        lines += ["", "Rows that failed:", ""]
        lines += ["- `%s`: %s" % kv for kv in sorted(errors.items())]
    lines += ["", "## Summary", ""]
    lines.append("Per case: mp's fastest start method and its ratio to that method's floor, "
                 "mp's threads, TBB, CPython's fastest start method, and how many times "
                 "CPython's time is mp's.")
    lines.append("")
    summary = []
    for scenario in sorted(by_scenario):
        for args in sorted(by_scenario[scenario], key=arg_key):
            summary.append(summary_line(scenario, args, by_scenario[scenario][args]))
    lines += table(SUMMARY_HEADER, summary, 2)
    lines += ["", "## Machine", ""]
    for key in ("mp_cpu", "num_cpus", "mp_kernel", "mp_compiler", "mp_build", "mp_mode",
                "mp_command", "mp_run_id", "date", "mp_duration_s", "mp_load_avg_max",
                "library_build_type", "mp_benchmark_library", "mp_python"):
        if key in ctx:
            lines.append("- %s: %s" % (key, ctx[key]))
    if "mp_notes" in ctx:
        lines.append("- notes: %s" % ctx["mp_notes"])
    plots = []
    for title, by_args in titled(by_scenario):
        scenario = title.split(" ")[0]
        impls = order({i for here in by_args.values() for i in here})
        lines += ["", "## " + title, ""]
        if scenario in NOTES:
            lines += [NOTES[scenario], ""]
        if "floor-threads" in impls and scenario != "process.start_join":
            lines += [FLOORS_NOTE, ""]
        for impl in impls:
            if (scenario, impl) in DIFFERENT_WORK:
                lines += ["‡ %s: %s; not held to the floor." % (impl, DIFFERENT_WORK[scenario,
                                                                                    impl]), ""]
        arg_names = [k for k, _ in next(iter(by_args))] or ["case"]
        ordered = sorted(by_args, key=arg_key)
        body = []
        for args in ordered:
            cells = [v for _, v in args] or ["–"]
            cells += [fmt_stats(by_args[args][i], (scenario, i) in DIFFERENT_WORK)
                      if i in by_args[args] else "" for i in impls]
            body.append(cells)
        lines += table(arg_names + impls, body, len(arg_names))
        judged = [i for i in impls if is_judged(i, scenario)]
        if judged:
            lines += ["", "Against the floor (time ÷ its floor's: 1× is the floor) and, for mp, "
                      "against CPython (`cpython-<method> N×`: CPython's time ÷ mp's; above 1× "
                      "mp is faster):", ""]
            body = []
            for args in ordered:
                here = by_args[args]
                cells = [v for _, v in args] or ["–"]
                for impl in judged:
                    if impl not in here:
                        cells.append("")
                        continue
                    t = here[impl].median
                    parts = []
                    fl = floor_for(impl, here)
                    if fl:
                        parts.append("%s %s" % (fmt_ratio(t / here[fl].median), fl))
                    cp = "cpython-" + impl
                    if kind_of(impl) in ("mp", "tbb") and cp in here:
                        parts.append("%s %s" % (cp, fmt_ratio(here[cp].median / t)))
                    cells.append(", ".join(parts))
                body.append(cells)
            lines += table(arg_names + judged, body, len(arg_names))
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", title)
        plots.append((stem, title, by_args, impls))
        lines += ["", "![%s](plots/%s.png)" % (title, stem)]
    return "\n".join(lines) + "\n", plots


def titled(by_scenario):
    """[(title, {args: {impl: Stats}})]: a scenario's cases with different
    arguments (pool.map by chunksize and by processes) get a table each."""
    out = {}
    for scenario, by_args in by_scenario.items():
        shapes = {tuple(k for k, _ in args) for args in by_args}
        for args, here in by_args.items():
            title = scenario
            if len(shapes) > 1 and args:
                title = "%s by %s" % (scenario, ", ".join(k for k, _ in args))
            out.setdefault(title, {})[args] = here
    return sorted(out.items())


def readme_section(doc):
    """The README's results section, markers included."""
    ctx = doc.get("context", {})
    stats, _ = collect(doc)
    by_scenario = cases(stats)
    lines = [README_BEGIN,
             "<!-- Written by reports/render_benchmarks.py from reports/benchmarks.json: edit "
             "the renderer, not this section. -->", ""]
    lines.append("From [reports/benchmarks.md](reports/benchmarks.md) (every row, with spreads "
                 "and plots), made by `%s` on %s (%s, %s CPUs; %s): medians, lower is better."
                 % (ctx.get("mp_command", "bazel run //benchmarks"), ctx.get("date", "?")[:10],
                    ctx.get("mp_cpu", "?"), ctx.get("num_cpus", "?"), provenance(ctx)))
    lines.append("")
    body = []
    for scenario, args in README_CASES:
        here = by_scenario.get(scenario, {}).get(args)
        if here:
            body.append(summary_line(scenario, args, here))
    lines += table(SUMMARY_HEADER, body, 2)
    lines += [""] + start_join_table(by_scenario.get("process.start_join", {}))
    found = anomalies(stats)
    lines.append("")
    if found:
        lines.append("Anomalies (below %.1f× a floor): %s." % (
            BELOW_FLOOR, ", ".join("`%s` %s" % (n, fmt_ratio(r)) for n, r, _ in found)))
    else:
        lines.append("No implementation runs below %.1f× its floor." % BELOW_FLOOR)
    lines.append(README_END)
    return "\n".join(lines)


def start_join_table(by_args):
    """Start + join by start method and parent footprint, mp and CPython:
    the trade-off of choosing a start method."""
    sizes = sorted(by_args, key=arg_key)
    if not sizes:
        return []
    lines = ["Starting and joining a process that does nothing, from a parent that has touched "
             "`parent_mib` MiB (fork copies the parent's page tables; spawn and forkserver "
             "start from a fresh program), against each method's floor:", ""]
    header = ["start method"] + [case_label(args) for args in sizes]
    body = []
    for method in of_kind("mp"):
        for impl, label in ((method, "mp " + method), ("cpython-" + method, "CPython " + method)):
            if not any(impl in by_args[args] for args in sizes):
                continue
            cells = [label]
            for args in sizes:
                here = by_args[args]
                if impl not in here:
                    cells.append("")
                    continue
                fl = floor_for(impl, here)
                ratio = " (%s %s)" % (fmt_ratio(here[impl].median / here[fl].median), fl) if fl else ""
                cells.append(fmt_stats(here[impl]) + ratio)
            body.append(cells)
    return lines + table(header, body, 1)


def replace_readme_section(text, section):
    begin, end = text.find(README_BEGIN), text.find(README_END)
    if begin < 0 or end < begin:
        raise ValueError("the README has no %s ... %s section" % (README_BEGIN, README_END))
    return text[:begin] + section + text[end + len(README_END):]


# Plots ---------------------------------------------------------------------------


def draw(plt, title, by_args, impls, path):
    cases_ = sorted(by_args, key=arg_key)
    labels, values, lows, highs, colors = [], [], [], [], []
    palette = {"floor": "#555555", "floor-spawn": "#777777", "floor-forkserver": "#888888",
               "floor-threads": "#aaaaaa", "socket-reference": "#bbbb77"}
    for args in cases_:
        for impl in impls:
            s = by_args[args].get(impl)
            if not s:
                continue
            case = ",".join("%s=%s" % kv for kv in args)
            labels.append(impl + (" (" + case + ")" if case else ""))
            values.append(s.median)
            lows.append(s.median - s.low)
            highs.append(s.high - s.median)
            colors.append(palette.get(impl, "#d62728" if impl.startswith("cpython")
                                      else "#2ca02c" if impl.startswith("tbb") else "#1f77b4"))
    fig, ax = plt.subplots(figsize=(8.5, 0.6 + 0.32 * len(values)))
    y = list(range(len(values)))
    ax.barh(y, values, color=colors, xerr=[lows, highs], ecolor="#333333", capsize=2)
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("time per operation, ns (log scale; lower is better; whiskers: min–max of "
                  "the repetitions)", fontsize=8)
    ax.set_title(title)
    for i, v in enumerate(values):
        ax.text(v, i, "  " + fmt_time(v), va="center", fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_plots(plots, out_dir):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("render_benchmarks: matplotlib is missing (apt-get install python3-matplotlib): "
              "no plots", file=sys.stderr)
        return
    plot_dir = os.path.join(out_dir, "plots")
    os.makedirs(plot_dir, exist_ok=True)
    for name in os.listdir(plot_dir):
        if name.endswith(".png"):
            os.remove(os.path.join(plot_dir, name))
    for stem, title, by_args, impls in plots:
        draw(plt, title, by_args, impls, os.path.join(plot_dir, stem + ".png"))


# Main ----------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--from", dest="source")
    parser.add_argument("--readme")
    parser.add_argument("--context", action="append", default=[])
    parser.add_argument("inputs", nargs="*")
    opts = parser.parse_args()
    if opts.source:
        with open(opts.source) as f:
            doc = json.load(f)
    else:
        parts = []
        for path in opts.inputs:
            if os.path.exists(path):
                with open(path) as f:
                    parts.append((path, json.load(f)))
        if not parts:
            print("render_benchmarks: no input", file=sys.stderr)
            return 1
        try:
            doc = merge(parts, [kv.partition("=")[::2] for kv in opts.context])
        except MixedRuns as e:
            print("render_benchmarks: refusing to mix runs: %s" % e, file=sys.stderr)
            return 1
    os.makedirs(opts.out, exist_ok=True)
    if not opts.source:
        with open(os.path.join(opts.out, "benchmarks.json"), "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
    text, plots = render_markdown(doc)
    with open(os.path.join(opts.out, "benchmarks.md"), "w") as f:
        f.write(text)
    write_plots(plots, opts.out)
    if opts.readme:
        with open(opts.readme) as f:
            readme = f.read()
        with open(opts.readme, "w") as f:
            f.write(replace_readme_section(readme, readme_section(doc)))
    found = anomalies(collect(doc)[0])
    print("render_benchmarks: wrote %s/benchmarks.json and benchmarks.md (%d runs, %d anomalies)%s"
          % (opts.out, len(doc["benchmarks"]), len(found),
             ", and the README's results" if opts.readme else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
