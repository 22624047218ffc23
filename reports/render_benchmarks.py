"""Merges benchmark JSON files and renders the benchmark report.

  render_benchmarks.py --out DIR [--context KEY=VALUE ...] FILE.json [FILE.json ...]

Writes DIR/benchmarks.json (one Google Benchmark JSON document: every row of
every input, with the context of the first plus KEY=VALUE pairs) and
DIR/benchmarks.md (a table per scenario), plus DIR/plots/<scenario>.png when
matplotlib is there. Ratios only ever compare rows of the same run.

Row names are `<primitive>.<scenario>/impl:<impl>/<arg>:<value>...`.
"""

import argparse
import json
import math
import os
import re
import statistics
import sys

IMPL_ORDER = ["processes", "fork", "spawn", "forkserver", "threads", "manager", "tbb", "tbb-spin",
              "tbb-queuing", "floor", "floor-spawn", "floor-threads", "cpython-processes",
              "cpython-fork", "cpython-spawn", "cpython-forkserver", "cpython-threads",
              "cpython-manager"]
MP_IMPLS = ["processes", "fork", "spawn", "forkserver", "threads", "manager", "tbb", "tbb-spin",
            "tbb-queuing"]
UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def parse_name(name):
    parts = name.split("/")
    scenario = parts[0]
    impl = None
    args = []
    for p in parts[1:]:
        key, _, value = p.partition(":")
        if key == "impl":
            impl = value
        else:
            args.append((key, value))
    return scenario, impl, tuple(args)


def representative_rows(benchmarks):
    """{(scenario, impl, args): row}: the median aggregate when repetitions ran,
    else the median of the iteration rows."""
    by_key = {}
    medians = {}
    for b in benchmarks:
        if b.get("error_occurred"):
            continue
        scenario, impl, args = parse_name(b.get("run_name", b["name"]))
        if impl is None:
            continue
        key = (scenario, impl, args)
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                medians[key] = b
        else:
            by_key.setdefault(key, []).append(b)
    out = {}
    for key, rows in by_key.items():
        if key in medians:
            out[key] = medians[key]
        else:
            rows = sorted(rows, key=lambda r: r["real_time"])
            out[key] = rows[len(rows) // 2]
    return out


def ns_per_item(row):
    if row.get("items_per_second"):
        return 1e9 / row["items_per_second"]
    return row["real_time"] * UNIT_NS.get(row.get("time_unit", "ns"), 1.0)


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


def floor_for(impl, impls):
    """The floor an implementation is judged against: its own kind's where the
    scenario has one (floor-spawn for spawn, floor-threads for threads and
    TBB), else the scenario's floor."""
    own = {"spawn": "floor-spawn", "threads": "floor-threads", "tbb": "floor-threads",
           "tbb-spin": "floor-threads", "tbb-queuing": "floor-threads"}.get(impl)
    if own in impls:
        return own
    return "floor" if "floor" in impls else None


def cpython_for(impl, impls):
    match = "cpython-" + impl
    return match if match in impls else None


def order(impls):
    return sorted(impls, key=lambda i: (IMPL_ORDER.index(i) if i in IMPL_ORDER else 99, i))


def render(doc, out_dir):
    rows = representative_rows(doc["benchmarks"])
    scenarios = {}
    shapes = {}
    for (scenario, impl, args), row in rows.items():
        shapes.setdefault(scenario, set()).add(tuple(k for k, _ in args))
    for (scenario, impl, args), row in rows.items():
        # Rows of one scenario with different arguments (pool.map by chunksize
        # and by processes) get a table each.
        title = scenario
        if len(shapes[scenario]) > 1 and args:
            title = "%s by %s" % (scenario, ", ".join(k for k, _ in args))
        scenarios.setdefault(title, {}).setdefault(args, {})[impl] = row
    ctx = doc.get("context", {})
    lines = ["# Benchmarks", ""]
    lines.append("Rendered by `reports/render_benchmarks.py` from `benchmarks.json`, written by "
                 "`bazel run //benchmarks`. Every figure is time per operation (lower is "
                 "better); ratios compare rows of this one run only.")
    lines += ["", "## Machine", ""]
    for key in ("mp_cpu", "num_cpus", "mp_kernel", "mp_compiler", "mp_build", "mp_mode", "date",
                "library_build_type", "mp_benchmark_library", "mp_python"):
        if key in ctx:
            lines.append("- %s: %s" % (key, ctx[key]))
    if "mp_notes" in ctx:
        lines.append("- notes: %s" % ctx["mp_notes"])
    plots = {}
    plot_dir = os.path.join(out_dir, "plots")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        plt = None
        lines.append("- plots: not drawn (matplotlib is missing: apt-get install python3-matplotlib)")
    for scenario in sorted(scenarios):
        by_args = scenarios[scenario]
        impls = order({i for row in by_args.values() for i in row})
        lines += ["", "## " + scenario, ""]
        arg_names = [k for k, _ in next(iter(by_args))] if by_args else []
        header = (arg_names or ["case"]) + impls
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(arg_names or ["case"]) + "---:|" * len(impls))
        for args in sorted(by_args, key=lambda a: [float(v) if re.match(r"^-?\d+(\.\d+)?$", v) else v for _, v in a]):
            cells = [v for _, v in args] or ["-"]
            for impl in impls:
                row = by_args[args].get(impl)
                cells.append(fmt_time(ns_per_item(row)) if row else "")
            lines.append("| " + " | ".join(cells) + " |")
        ratio_impls = [i for i in impls if i in MP_IMPLS]
        if ratio_impls:
            lines += ["", "Against the floor (time ÷ floor's: 1× is the floor) and against CPython "
                      "(CPython's time ÷ mp's: how many times faster):", ""]
            lines.append("| " + " | ".join((arg_names or ["case"]) + ratio_impls) + " |")
            lines.append("|" + "---|" * len(arg_names or ["case"]) + "---|" * len(ratio_impls))
            for args in sorted(by_args):
                cells = [v for _, v in args] or ["-"]
                here = by_args[args]
                for impl in ratio_impls:
                    row = here.get(impl)
                    if not row:
                        cells.append("")
                        continue
                    t = ns_per_item(row)
                    parts = []
                    fl = floor_for(impl, here)
                    if fl:
                        parts.append("%s %s" % (fmt_ratio(t / ns_per_item(here[fl])), fl))
                    cp = cpython_for(impl, here)
                    if cp:
                        parts.append("%s faster than %s" % (fmt_ratio(ns_per_item(here[cp]) / t), cp))
                    cells.append(", ".join(parts))
                lines.append("| " + " | ".join(cells) + " |")
        if plt is not None:
            os.makedirs(plot_dir, exist_ok=True)
            stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", scenario)
            path = os.path.join(plot_dir, stem + ".png")
            draw(plt, scenario, by_args, impls, path)
            lines += ["", "![%s](plots/%s.png)" % (scenario, stem)]
    with open(os.path.join(out_dir, "benchmarks.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def draw(plt, scenario, by_args, impls, path):
    cases = sorted(by_args)
    fig, ax = plt.subplots(figsize=(8, 0.5 + 0.35 * len(impls) * len(cases)))
    labels, values, colors = [], [], []
    palette = {"floor": "#555555", "floor-spawn": "#888888", "floor-threads": "#aaaaaa"}
    for args in cases:
        for impl in impls:
            row = by_args[args].get(impl)
            if not row:
                continue
            case = ",".join("%s=%s" % kv for kv in args)
            labels.append(impl + (" (" + case + ")" if case else ""))
            values.append(ns_per_item(row))
            colors.append(palette.get(impl, "#d62728" if impl.startswith("cpython") else "#1f77b4"))
    y = range(len(values))
    ax.barh(list(y), values, color=colors)
    ax.set_yticks(list(y))
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("time per operation, ns (log scale; lower is better)")
    ax.set_title(scenario)
    for i, v in enumerate(values):
        ax.text(v, i, " " + fmt_time(v), va="center", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--context", action="append", default=[])
    parser.add_argument("inputs", nargs="+")
    opts = parser.parse_args()
    doc = {"context": {}, "benchmarks": []}
    for path in opts.inputs:
        if not os.path.exists(path):
            continue
        with open(path) as f:
            part = json.load(f)
        if not doc["context"]:
            doc["context"] = dict(part.get("context", {}))
        elif "python_version" in part.get("context", {}):
            doc["context"]["mp_python"] = "CPython %s (%s)" % (
                part["context"]["python_version"], part["context"].get("executable", "python3"))
        doc["benchmarks"].extend(part.get("benchmarks", []))
    for kv in opts.context:
        key, _, value = kv.partition("=")
        doc["context"][key] = value
    os.makedirs(opts.out, exist_ok=True)
    with open(os.path.join(opts.out, "benchmarks.json"), "w") as f:
        json.dump(doc, f, indent=1)
    render(doc, opts.out)
    print("render_benchmarks: wrote %s/benchmarks.json and benchmarks.md (%d rows)"
          % (opts.out, len(doc["benchmarks"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
