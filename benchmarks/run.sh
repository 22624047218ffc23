#!/usr/bin/env bash
# bazel run //benchmarks -- [--mode=quick|publish] [--benchmark_filter=REGEX] [--out=DIR]
#
# Runs mp's rows (benchmarks/mp_benchmarks) and CPython's (cpython_bench.py)
# with the same filter, merges them into DIR/benchmarks.json and renders
# DIR/benchmarks.md and DIR/plots/. DIR defaults to reports/ in the workspace.
#   quick    (default) short runs, 3 repetitions interleaved at random, medians
#   publish  longer runs, 9 repetitions interleaved at random, medians
# Interleaving spreads the machine's slow and fast moments over every row
# instead of landing them on whichever row ran then.
set -euo pipefail

runfiles="${RUNFILES_DIR:-$0.runfiles}/mp"
workspace="${BUILD_WORKSPACE_DIRECTORY:-$PWD}"
out="$workspace/reports"
mode=quick
filter=""
extra=()
for a in "$@"; do
  case "$a" in
    --out=*) out="${a#--out=}"; [[ "$out" = /* ]] || out="$workspace/$out" ;;
    --mode=*) mode="${a#--mode=}" ;;
    --benchmark_filter=*) filter="${a#--benchmark_filter=}" ;;
    *) extra+=("$a") ;;
  esac
done
case "$mode" in
  quick) timing=(--benchmark_min_time=0.05 --benchmark_repetitions=3) ;;
  publish) timing=(--benchmark_min_time=0.3 --benchmark_repetitions=9) ;;
  *) echo "unknown --mode=$mode (quick or publish)" >&2; exit 2 ;;
esac
mkdir -p "$out"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "== mp ($mode)"
"$runfiles/benchmarks/mp_benchmarks" "${timing[@]}" --benchmark_enable_random_interleaving=true \
  --benchmark_filter="$filter" \
  --benchmark_out="$tmp/mp.json" --benchmark_out_format=json "${extra[@]}"

notes=""
if command -v python3 >/dev/null; then
  echo "== CPython ($(python3 --version 2>&1))"
  python3 "$runfiles/benchmarks/cpython_bench.py" "${timing[@]}" --benchmark_filter="$filter" \
    --out="$tmp/cpython.json" || notes="the CPython run failed; its rows are missing"
else
  notes="python3 is not installed: no CPython rows"
fi

# The renderer draws plots with matplotlib: Debian's python3-matplotlib lives
# in /usr/bin/python3, which another python3 on PATH may hide.
render=python3
/usr/bin/python3 -c "import matplotlib" 2>/dev/null && render=/usr/bin/python3
lib_type="$(grep -o '"library_build_type": "[a-z]*"' "$tmp/mp.json" | cut -d'"' -f4 || true)"
[ "$lib_type" = debug ] && notes="${notes:+$notes; }Debian's libbenchmark is a DEBUG build (it warns: \"Library was built as DEBUG\"); mp's own code is optimized"
"$render" "$runfiles/reports/render_benchmarks.py" --out="$out" \
  --context="mp_cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')" \
  --context="mp_kernel=$(uname -sr)" \
  --context="mp_mode=$mode" \
  --context="mp_benchmark_library=Google Benchmark $(dpkg-query -W -f='${Version}' libbenchmark-dev 2>/dev/null || echo '?')" \
  ${notes:+--context="mp_notes=$notes"} \
  "$tmp/mp.json" "$tmp/cpython.json"
