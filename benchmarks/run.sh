#!/usr/bin/env bash
# `bazel run //benchmarks [-- --benchmark_filter=REGEX] [--out=DIR]`: runs the
# benchmark rows and writes DIR/benchmarks.json (default: reports/).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="$here/mp_benchmarks"
[ -x "$bin" ] || bin="$(dirname "$0")/benchmarks/mp_benchmarks"
workspace="${BUILD_WORKSPACE_DIRECTORY:-$PWD}"
out="$workspace/reports"
args=()
for a in "$@"; do
  case "$a" in
    --out=*) out="${a#--out=}"; [[ "$out" = /* ]] || out="$workspace/$out" ;;
    *) args+=("$a") ;;
  esac
done
mkdir -p "$out"
"$bin" --benchmark_min_time=0.05 --benchmark_out="$out/benchmarks.json" --benchmark_out_format=json "${args[@]}"
echo "wrote $out/benchmarks.json"
