#!/usr/bin/env bash
# All four benchmarks in a row, each against the tool users would pick instead, on the
# generated catalogue (full: 2,000 lessons; --quick: a tenth):
#
#   bash bench/all.sh [--quick]
#
#   bench/build.sh    course build   vs Hugo and mdBook
#   bench/serve.sh    edge-origin    vs nginx (and Varnish in front of edge-origin)
#   bench/publish.sh  course publish vs aws s3 sync (to Garage)
#   bench/authoring.sh  course serve (live reload) vs hugo server, in chromium
#
# Each prints one markdown table; they are also written, with the date and the machine,
# to bench/results/<build|serve|publish|authoring>-<quick|full>.md, which the README
# quotes. They run one after another because each needs both cores to itself. Full: about
# 35 minutes in all (each under 10); --quick: about 8. Then bench/instructions.sh prints
# the instruction counts (valgrind) of the binaries in target/ and writes them to
# bench/results/instructions.md (about 1 minute per run and profile).
set -euo pipefail

SIZE=full
ARGS=()
for arg in "$@"; do
  case "$arg" in
    --quick) SIZE=quick ARGS+=(--quick) ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "all.sh: unknown argument $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$HERE/results"
for bench in build serve publish authoring; do
  echo "[bench] $bench ($SIZE)" >&2
  out=$(mktemp)
  bash "$HERE/$bench.sh" "${ARGS[@]}" | tee "$out"
  # build.sh and authoring.sh write their own results file (with its machine header);
  # keep the others' too.
  if [[ $bench != build && $bench != authoring ]]; then
    {
      echo "<!-- $(date -u '+%Y-%m-%d %H:%M UTC') · bash bench/$bench.sh ${ARGS[*]} · $(nproc) CPUs," \
        "$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') -->"
      cat "$out"
    } >"$HERE/results/$bench-$SIZE.md"
  fi
  rm -f "$out"
  echo >&2
done
# Then the instruction counts (valgrind; the quick catalogue whatever the size, about a
# minute per profile): figures that do not move with the machine's load.
echo "[bench] instructions" >&2
out=$(mktemp)
bash "$HERE/instructions.sh" | tee "$out"
{
  echo "<!-- $(date -u '+%Y-%m-%d %H:%M UTC') · bash bench/instructions.sh · $(nproc) CPUs," \
    "$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') -->"
  cat "$out"
} >"$HERE/results/instructions.md"
rm -f "$out"
echo "[bench] tables in bench/results/*-$SIZE.md and bench/results/instructions.md" >&2
