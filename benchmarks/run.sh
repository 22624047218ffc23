#!/usr/bin/env bash
# bazel run //benchmarks -- [--mode=quick|publish] [--benchmark_filter=REGEX] [--out=DIR]
#
# Runs mp's rows (benchmarks/mp_benchmarks) and CPython's (cpython_bench.py)
# with the same filter, merges them into DIR/benchmarks.json and renders
# DIR/benchmarks.md and DIR/plots/ (and, for a publish run into reports/, the
# README's results section). DIR defaults to reports/ in the workspace for a
# publish run and to scratch/benchmarks/ (not tracked) for a quick one, which
# leaves the committed reports alone.
#   quick    (default) short repetitions, a few of them: a look, not a result
#   publish  the run behind the committed reports: longer repetitions, more
#            of them; about 35 minutes on the 2-vCPU benchmark VM (mp's rows
#            18 min, CPython's 14). Make it on a quiet machine (the report
#            records the load average).
#
# Every case (a scenario with its arguments: all its implementations) runs in
# a fresh process, mp's and CPython's alike: what one row leaves behind
# (memory, children, a fork server) cannot change the cost of another. Within
# a case the repetitions of all implementations run in a random order, so
# that a slow or fast moment of the machine is spread over them. One run id
# names every part of a run; the renderer refuses to mix parts of different
# runs.
set -euo pipefail

runfiles="${RUNFILES_DIR:-$0.runfiles}/mp"
workspace="${BUILD_WORKSPACE_DIRECTORY:-$PWD}"
out=""
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
  quick) min_time=0.05; repetitions=3 ;;
  publish) min_time=0.25; repetitions=9 ;;
  *) echo "unknown --mode=$mode (quick or publish)" >&2; exit 2 ;;
esac
if [ "$mode" = publish ] && [ -n "$filter" ]; then
  echo "a publish run runs every row: no --benchmark_filter" >&2
  exit 2
fi
if [ -z "$out" ]; then
  out="$workspace/scratch/benchmarks"
  [ "$mode" = publish ] && out="$workspace/reports"
fi

load="$(cut -d' ' -f1 /proc/loadavg)"
if [ "$mode" = publish ] && awk -v l="$load" 'BEGIN { exit !(l > 0.5) }'; then
  echo "warning: the load average is $load: figures from a busy machine are neither steady" \
    "nor comparable (the report records the load)" >&2
fi

bench="$runfiles/benchmarks/mp_benchmarks"
cpython="$runfiles/benchmarks/cpython_bench.py"
run_id="$(date -u +%Y%m%dT%H%M%SZ)-$mode"
started="$(date +%s)"
mkdir -p "$out"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Writes the rows listed on stdin into $tmp/$1-NNN.rows, one file per case
# (the row's name without its /impl:... part), cases in order of appearance.
split_cases() {
  awk -v prefix="$tmp/$1-" '{
    key = $0; sub(/\/impl:[^\/]*/, "", key)
    if (!(key in file)) file[key] = sprintf("%s%03d.rows", prefix, ++n)
    print >> file[key]; close(file[key])
  }'
}

# run_cases NAME TOTAL COMMAND...: runs COMMAND once per case file of NAME,
# with the case's output file, its rows file and the progress so far
# (runs done/runs in the phase/when the phase started).
notes=()
run_cases() {
  local name="$1" total="$2" so_far=0 rows phase_started
  phase_started="$(date +%s)"
  shift 2
  for rows in "$tmp/$name"-*.rows; do
    [ -e "$rows" ] || continue
    "$@" "${rows%.rows}.json" "$rows" "$so_far/$total/$phase_started" ||
      notes+=("$name rows of $(head -1 "$rows" | sed 's#/impl:[^/]*##') failed")
    so_far=$((so_far + $(wc -l <"$rows") * repetitions))
  done
  [ -t 1 ] && echo  # the progress line stays open until the phase ends
  return 0
}

mp_case() {
  "$bench" --benchmark_min_time="$min_time" --benchmark_repetitions="$repetitions" \
    --mp_run_id="$run_id" --benchmark_out="$1" --mp_rows="$2" --mp_progress="$3" "${extra[@]}"
}
cpython_case() {
  python3 "$cpython" --benchmark_min_time="$min_time" --benchmark_repetitions="$repetitions" \
    --run_id="$run_id" --out="$1" --rows="$2" --progress="$3"
}

"$bench" --mp_list --benchmark_filter="$filter" | split_cases mp
mp_rows=$(cat "$tmp"/mp-*.rows 2>/dev/null | wc -l)
echo "== mp ($mode, run $run_id): $mp_rows rows × $repetitions repetitions"
run_cases mp $((mp_rows * repetitions)) mp_case

if command -v python3 >/dev/null; then
  python3 "$cpython" --list --benchmark_filter="$filter" | split_cases cpython
  cpython_rows=$(cat "$tmp"/cpython-*.rows 2>/dev/null | wc -l)
  echo "== CPython $(python3 -c 'import platform; print(platform.python_version())'):" \
    "$cpython_rows rows × up to $repetitions repetitions"
  run_cases cpython $((cpython_rows * repetitions)) cpython_case
else
  notes+=("python3 is not installed: no CPython rows")
fi
finished="$(date +%s)"

# The renderer draws plots with matplotlib: Debian's python3-matplotlib lives
# in /usr/bin/python3, which another python3 on PATH may hide.
render=python3
/usr/bin/python3 -c "import matplotlib" 2>/dev/null && render=/usr/bin/python3
readme=()
[ "$mode" = publish ] && [ "$out" = "$workspace/reports" ] && readme=(--readme="$workspace/README.md")
command="bazel run //benchmarks -- --mode=$mode${filter:+ --benchmark_filter=$filter}"
"$render" "$runfiles/reports/render_benchmarks.py" --out="$out" "${readme[@]}" \
  --context="mp_cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')" \
  --context="mp_kernel=$(uname -sr)" \
  --context="mp_mode=$mode" \
  --context="mp_command=$command" \
  --context="mp_min_time=$min_time" \
  --context="mp_repetitions=$repetitions" \
  --context="mp_duration_s=$((finished - started))" \
  --context="mp_benchmark_library=Google Benchmark $(dpkg-query -W -f='${Version}' libbenchmark-dev 2>/dev/null || echo '?')" \
  ${notes[@]+"${notes[@]/#/--context=mp_notes=}"} \
  "$tmp"/mp-*.json "$tmp"/cpython-*.json
echo "== done in $(((finished - started) / 60)) min $(((finished - started) % 60)) s: $out/benchmarks.md"
