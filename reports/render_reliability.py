"""Renders reports/reliability.md from the fault-injection tallies.

    python3 reports/render_reliability.py MP_JSON... [--cpython=PATH] [--out=PATH]
        [--title=TEXT] [--note=TEXT]...

Each MP_JSON is what //reliability:fault_suite_test writes (--json=PATH, or
reliability.json among each shard's undeclared outputs); rows of the same
scenario and implementation are added up. --cpython names what
reliability/cpython_faults.py writes. Both hold rows of scenario,
implementation, trials, killed, survived, hung, lost, duplicated, corrupted.
"""

import json
import sys

COLUMNS = ["trials", "killed", "survived", "hung", "lost", "duplicated", "corrupted"]


FAMILIES = ["queue", "lock", "rlock", "semaphore", "condition", "barrier", "pool", "manager"]


def family(scenario):
    return scenario.split("/")[0]


def order(fam):
    return FAMILIES.index(fam) if fam in FAMILIES else len(FAMILIES)


def table(rows):
    out = ["| scenario | implementation | " + " | ".join(COLUMNS) + " |",
           "|---|---|" + "---:|" * len(COLUMNS)]
    for r in rows:
        out.append("| %s | %s | %s |" % (r["scenario"], r["implementation"],
                                         " | ".join(str(r.get(c, 0)) for c in COLUMNS)))
    return out


def totals(rows):
    t = {c: sum(int(r.get(c, 0)) for r in rows) for c in COLUMNS}
    return t


def merge(rows):
    merged = {}
    for r in rows:
        key = (r["scenario"], r["implementation"])
        if key not in merged:
            merged[key] = dict(r)
        else:
            for c in COLUMNS:
                merged[key][c] = int(merged[key].get(c, 0)) + int(r.get(c, 0))
    return list(merged.values())


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    out_path = "reports/reliability.md"
    title = "Reliability: parties SIGKILLed at random instants"
    notes = []
    cpython_path = None
    for a in sys.argv[1:]:
        if a.startswith("--out="):
            out_path = a[len("--out="):]
        elif a.startswith("--title="):
            title = a[len("--title="):]
        elif a.startswith("--cpython="):
            cpython_path = a[len("--cpython="):]
        elif a.startswith("--note="):
            notes.append(a[len("--note="):])
    if not args:
        print(__doc__)
        return 2
    mp_rows = merge([r for path in args for r in json.load(open(path))["rows"]])
    cpy = json.load(open(cpython_path)) if cpython_path else {"rows": []}
    rows = mp_rows + cpy["rows"]
    lines = ["# " + title, ""]
    lines += notes + [""] if notes else []
    t = totals(mp_rows)
    lines.append("mp, every scenario and start method: %d trials, %d kills that landed before the "
                 "victim finished, %d survived, %d hung, %d items lost (each within what its kill "
                 "may cost), %d duplicated, %d corrupted." %
                 (t["trials"], t["killed"], t["survived"], t["hung"], t["lost"], t["duplicated"],
                  t["corrupted"]))
    if cpy["rows"]:
        c = totals(cpy["rows"])
        lines.append("")
        lines.append("CPython %s, the queue, lock and pool scenarios: %d trials, %d survived, "
                     "%d hung, %d items lost, %d duplicated, %d corrupted." %
                     (cpy.get("python", ""), c["trials"], c["survived"], c["hung"], c["lost"],
                      c["duplicated"], c["corrupted"]))
    lines += ["", "Columns: `killed` counts trials whose victim died of the kill (the others had "
              "already finished: their trial still checks every promise); `survived` counts trials "
              "that kept every promise; `lost` counts items (pool: tasks) missing, which a kill "
              "may cost only where its victim held them (a consumer's one item, a worker's one "
              "chunk); `hung` counts trials where a party or call overran its bound.", ""]
    for fam in sorted({family(r["scenario"]) for r in rows}, key=order):
        lines += ["## " + fam, ""]
        lines += table(sorted((r for r in rows if family(r["scenario"]) == fam),
                             key=lambda r: (r["scenario"], r["implementation"])))
        lines.append("")
    with open(out_path, "w") as f:
        f.write("\n".join(lines))
    print("wrote " + out_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
