#!/usr/bin/env bash
# Build benchmark: `course build` against Hugo and mdBook on the same lessons, in one run,
# reported as one markdown table (stdout, and bench/results/build-<quick|full>.md;
# progress goes to stderr).
#
#   bash bench/build.sh [--quick] [--rounds N] [--edits N] [--seed N]
#
# Content: `course generate --size full` (2,000 lessons in 40 courses, 9,500 animations,
# 1,000 quizzes, 75 labs, ~200 MiB), or `--size quick` (a tenth) with --quick, writes the
# catalogue and the same lessons as a Hugo site and an mdBook into the temp dir. The page
# count of every tool is its lesson pages (2,000 / 200), each checked present in its output.
# Rows (each: ours | Hugo | mdBook | ratio ours vs peer):
#   1  cold full build: wall time and lesson pages/s. Ours: `course build` into a fresh
#      store (no build cache); Hugo: `hugo --quiet -s SITE -d OUT` (fresh OUT and cache
#      dir); mdBook: `mdbook build BOOK -d OUT` (fresh OUT). Ratio: our pages/s / theirs
#      (target >= 2.0x Hugo's)
#   2  warm rebuild after appending a sentence to one lesson (the same lesson in each
#      tool's tree), into the same output: wall time (median over the edits, a different
#      lesson each; target for ours < 150 ms) and pages re-rendered (ours: the
#      "(N rendered)" of its report; Hugo and mdBook re-render every page). Each edit is
#      checked to appear in each tool's rebuilt page
#   3  peak RSS of the cold builds (/usr/bin/time -f %M)
#   4  our rebuild with nothing changed
#
# Options / environment:
#   --quick                 the quick catalogue (about 1-2 min in all; full: under 10 min)
#   --rounds N              rounds (default 1); each round does every row for every tool,
#                           rotating which tool goes first; the table shows medians
#   --edits N               one-lesson edits per round (default 5, BENCH_EDITS); ours is
#                           rebuilt after each
#   BENCH_PEER_EDITS=N      how many of those edits Hugo and mdBook are rebuilt after
#                           (default: all with --quick, 3 for full: each of their rebuilds
#                           re-renders everything, ~10 s and ~30-75 s on 2 CPUs)
#   --seed N                `course generate --seed` (default 42)
#   BENCH_COURSE=PATH       benchmark this `course` binary instead of building one with
#                           `cargo build --release -p builder` (the binary is copied into the
#                           temp dir either way, so a concurrent rebuild cannot swap it)
#   BENCH_TIMEOUT=900       seconds any single build may take before the run is abandoned
#   BENCH_SETTLE=30         seconds to wait for busy CPUs (another build) before starting
#   BENCH_KEEP=1            keep the temp dir (trees, outputs, runs/*.out|err, results.tsv)
#   BENCH_TMPDIR=DIR        where the temp dir goes (default /dev/shm when it exists, else
#                           $TMPDIR or /tmp). A tmpfs by default because these VMs' ext4 has
#                           no journal, and there creating files within minutes of deleting
#                           many is pathologically slow (the kernel scans every recently
#                           deleted inode per create): a cold build after `rm -rf` of the
#                           last round's output measured the file system's history, not the
#                           tools (25 s instead of 10 s for ours). Every tool gets the same
#                           file system.
#
# Installs hugo and time (apt) and mdbook (cargo install mdbook --locked) only when missing.
set -euo pipefail

QUICK=0
ROUNDS=1
EDITS=${BENCH_EDITS:-5}
SEED=42
ARGS=("$@")
need_value() { (($2 >= 2)) || { echo "build.sh: $1 needs a value" >&2 && exit 2; }; }
while (($#)); do
  case "$1" in
    --quick) QUICK=1 ;;
    --rounds) need_value "$1" $# && ROUNDS=$2 && shift ;;
    --rounds=*) ROUNDS=${1#--rounds=} ;;
    --edits) need_value "$1" $# && EDITS=$2 && shift ;;
    --edits=*) EDITS=${1#--edits=} ;;
    --seed) need_value "$1" $# && SEED=$2 && shift ;;
    --seed=*) SEED=${1#--seed=} ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "build.sh: unknown argument $1 (try --help)" >&2
      exit 2
      ;;
  esac
  shift
done

if ((QUICK)); then
  SIZE=quick PEER_EDITS=${BENCH_PEER_EDITS:-$EDITS}
else
  SIZE=full PEER_EDITS=${BENCH_PEER_EDITS:-3}
fi
TIMEOUT=${BENCH_TIMEOUT:-900}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
HELPER=$HERE/build/helper.py
log() { printf '[build-bench] %s\n' "$*" >&2; }
die() {
  printf '[build-bench] error: %s\n' "$*" >&2
  exit 1
}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a positive integer"
[[ $EDITS =~ ^[1-9][0-9]*$ ]] || die "--edits must be a positive integer"
[[ $PEER_EDITS =~ ^[0-9]+$ ]] || die "BENCH_PEER_EDITS must be a non-negative integer"
((PEER_EDITS <= EDITS)) || PEER_EDITS=$EDITS
[[ $SEED =~ ^[0-9]+$ ]] || die "--seed must be a non-negative integer"
[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "BENCH_TIMEOUT must be a positive integer"

# ---------------------------------------------------------------- tools (idempotent)
export PATH="$PATH:$HOME/.cargo/bin"
missing=()
command -v hugo >/dev/null || missing+=(hugo)
[[ -x /usr/bin/time ]] || missing+=(time)
command -v python3 >/dev/null || missing+=(python3)
command -v timeout >/dev/null || missing+=(coreutils)
# shellcheck source=bench/apt.sh
source "$HERE/apt.sh"
apt_install "${missing[@]}"
if ! command -v mdbook >/dev/null; then
  log "installing mdbook (cargo install mdbook --locked)"
  cargo install mdbook --locked >&2 || die "cargo install mdbook failed"
fi
HUGO=$(command -v hugo)
MDBOOK=$(command -v mdbook)

# ---------------------------------------------------------------- temp dir and cleanup
# shellcheck source=bench/tmpdir.sh
source "$HERE/tmpdir.sh"
WORK=$(mktemp -d "$BASE/build-bench.XXXXXX")
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n ${BENCH_KEEP:-} ]]; then log "kept $WORK (BENCH_KEEP)"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$WORK/bin" "$WORK/runs" "$WORK/out"

# ---------------------------------------------------------------- our binary
if [[ -n ${BENCH_COURSE:-} ]]; then
  [[ -x $BENCH_COURSE ]] || die "BENCH_COURSE=$BENCH_COURSE is not an executable"
  cp "$BENCH_COURSE" "$WORK/bin/course"
  REV="\`$BENCH_COURSE\` (BENCH_COURSE)"
else
  log "cargo build --release -p builder (waits if another build holds the lock)"
  (cd "$ROOT" && cargo build --release -p builder) ||
    die "cargo build --release failed (see above): the workspace must compile to be benchmarked"
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/course"
  [[ -x $BIN ]] || die "release binary not found: $BIN"
  # A copy: others build into the same target dir while this runs.
  cp "$BIN" "$WORK/bin/course"
  REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
  if [[ -n $(git -C "$ROOT" status --porcelain -- builder bundle edge-origin Cargo.toml Cargo.lock 2>/dev/null) ]]; then
    REV="$REV + uncommitted changes in the working tree"
  fi
fi
COURSE=$WORK/bin/course

# ---------------------------------------------------------------- content
C=$WORK/content H=$WORK/hugo B=$WORK/book
log "course generate --size $SIZE --seed $SEED (catalogue, Hugo site, mdBook)"
T0=$EPOCHREALTIME
"$COURSE" generate --out "$C" --size "$SIZE" --seed "$SEED" --theme "$ROOT/content/theme" \
  --hugo "$H" --mdbook "$B" >"$WORK/generate.out" 2>&1 ||
  { cat "$WORK/generate.out" >&2; die "course generate failed"; }
us() { local t=${1//[^0-9]/}; echo $((10#$t)); } # EPOCHREALTIME -> microseconds
GEN_S=$(awk -v us=$(($(us "$EPOCHREALTIME") - $(us "$T0"))) 'BEGIN { printf "%.1f", us / 1e6 }')
GENERATED=$(head -n 1 "$WORK/generate.out" | sed -n 's/^generated \(.*\) in [0-9.]*[a-z]* -> .*/\1/p')
GENERATED="${GENERATED/: / (})"
log "  $(head -n 1 "$WORK/generate.out" | sed 's/ -> .*//') ($GEN_S s)"
python3 "$HELPER" lessons "$C" "$H" "$B" >"$WORK/lessons.txt" || die "the peers do not carry the same lessons"
mapfile -t LESSONS <"$WORK/lessons.txt"
N=${#LESSONS[@]}
((ROUNDS * EDITS <= N)) || die "$ROUNDS rounds x $EDITS edits is more than the $N lessons"
log "$N lessons in each tree"

# ---------------------------------------------------------------- machine
cpu_busy() { # percent of all CPUs busy over the next second
  local a b
  read -r -a a < <(head -n 1 /proc/stat)
  sleep 1
  read -r -a b < <(head -n 1 /proc/stat)
  local i total=0 idle
  for ((i = 1; i < ${#a[@]}; i++)); do total=$((total + b[i] - a[i])); done
  idle=$((b[4] - a[4] + b[5] - a[5]))
  ((total > 0)) || total=1
  echo "$((100 * (total - idle) / total))"
}
BUSY=$(cpu_busy)
for ((waited = 1; waited < ${BENCH_SETTLE:-30}; waited++)); do
  ((BUSY >= 25)) || break
  ((waited % 10 == 1)) && log "CPUs $BUSY% busy with something else: waiting for them to settle"
  BUSY=$(cpu_busy)
done
((BUSY < 25)) || log "warning: CPUs already $BUSY% busy before the builds: results will be noisy"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- runs
RESULTS=$WORK/results.tsv
: >"$RESULTS"
T_MS="" RSS_KB=""
timed() { # tag cmd...: run under /usr/bin/time, stdout to runs/<tag>.out, stderr to .err; sets T_MS RSS_KB
  local tag=$1 t0 t1 rc=0
  shift
  t0=$EPOCHREALTIME
  timeout "$TIMEOUT" /usr/bin/time -o "$WORK/runs/$tag.time" -f '%M' "$@" \
    >"$WORK/runs/$tag.out" 2>"$WORK/runs/$tag.err" || rc=$?
  t1=$EPOCHREALTIME
  if ((rc != 0)); then
    tail -n 20 "$WORK/runs/$tag.out" "$WORK/runs/$tag.err" >&2
    ((rc == 124)) && die "$tag: took longer than BENCH_TIMEOUT=$TIMEOUT s"
    die "$tag: $1 exited with status $rc"
  fi
  T_MS=$(awk -v us=$(($(us "$t1") - $(us "$t0"))) 'BEGIN { printf "%.1f", us / 1000 }')
  RSS_KB=$(grep -E '^[0-9]+$' "$WORK/runs/$tag.time" | tail -n 1)
}
record() { # round tool kind seq lesson pages rendered tag
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$T_MS" "$RSS_KB" "$6" "$7" \
    "$WORK/runs/$8.out" >>"$RESULTS"
}

OURS=$WORK/out/ours HOUT=$WORK/out/hugo HCACHE=$WORK/out/hugo-cache MOUT=$WORK/out/mdbook
build_tool() { # tool round kind seq lesson needle
  local tool=$1 round=$2 kind=$3 seq=$4 lesson=$5 needle=$6 tag="r$2-$1-$3-$4" check=() facts pages rendered
  [[ -n $needle ]] && check=(--needle "$lesson" "$needle")
  case $tool in
    ours)
      [[ $kind != cold ]] || rm -rf "$OURS"
      timed "$tag" "$COURSE" build --content "$C" --out "$OURS" --timings
      facts=$(grep -m 1 '^built ' "$WORK/runs/$tag.out" || true)
      [[ $facts =~ ^built\ ([0-9]+)\ pages\ \(([0-9]+)\ rendered\) ]] ||
        die "$tag: unexpected report from course build: $facts"
      pages=${BASH_REMATCH[1]} rendered=${BASH_REMATCH[2]}
      [[ $kind != cold ]] || ((rendered == pages)) || die "$tag: a cold build rendered only $rendered of $pages pages"
      python3 "$HELPER" check-ours "$OURS" "$WORK/lessons.txt" "${check[@]}" >/dev/null
      ;;
    hugo)
      [[ $kind != cold ]] || rm -rf "$HOUT" "$HCACHE"
      timed "$tag" "$HUGO" --quiet -s "$H" -d "$HOUT" --cacheDir "$HCACHE"
      read -r pages rendered < <(python3 "$HELPER" check-peer "$HOUT" "$WORK/lessons.txt" "${check[@]}")
      ;;
    mdbook)
      [[ $kind != cold ]] || rm -rf "$MOUT"
      timed "$tag" "$MDBOOK" build "$B" -d "$MOUT"
      read -r pages rendered < <(python3 "$HELPER" check-peer "$MOUT" "$WORK/lessons.txt" "${check[@]}")
      ;;
  esac
  [[ -n ${pages:-} ]] || die "$tag: checking the output failed"
  record "$round" "$tool" "$kind" "$seq" "${lesson:--}" "$pages" "$rendered" "$tag"
  log "  $tag: $T_MS ms, ${RSS_KB} KB max RSS$([[ $tool == ours ]] && echo ", $rendered of $pages pages rendered")"
}

TOOLS=(ours hugo mdbook)
for round in $(seq "$ROUNDS"); do
  order=()
  for ((i = 0; i < 3; i++)); do order+=("${TOOLS[(i + round - 1) % 3]}"); done
  log "round $round/$ROUNDS: cold builds (${order[*]})"
  for tool in "${order[@]}"; do build_tool "$tool" "$round" cold 0 "" ""; done
  log "round $round/$ROUNDS: our rebuild with nothing changed"
  build_tool ours "$round" unchanged 0 "" ""
  for e in $(seq "$EDITS"); do
    # Lessons spread evenly over the sorted list (so over the courses), never one twice.
    k=$(((round - 1) * EDITS + e - 1))
    lesson=${LESSONS[(2 * k + 1) * N / (2 * ROUNDS * EDITS)]}
    needle="Bench edit r${round}e${e} appended this sentence."
    for f in "$C/courses/$lesson.md" "$H/content/$lesson.md" "$B/src/$lesson.md"; do
      printf '\n%s\n' "$needle" >>"$f"
    done
    log "round $round/$ROUNDS: edit $e/$EDITS: $lesson"
    for tool in "${order[@]}"; do
      [[ $tool == ours ]] || ((e <= PEER_EDITS)) || continue
      build_tool "$tool" "$round" edit "$e" "$lesson" "$needle"
    done
  done
done

# ---------------------------------------------------------------- report
CPU=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
MEM=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
CMD="bash bench/build.sh"
((${#ARGS[@]})) && CMD="$CMD ${ARGS[*]}"
mkdir -p "$HERE/results"
python3 "$HELPER" report "$RESULTS" \
  "size=$SIZE" "seed=$SEED" "rounds=$ROUNDS" "edits=$EDITS" "peer_edits=$PEER_EDITS" "lessons=$N" \
  "date=$(date -u '+%Y-%m-%d %H:%M UTC')" "command=$CMD" "nproc=$(nproc)" "cpu=${CPU:-unknown}" "mem=$MEM" \
  "busy=$BUSY%" "load0=$LOAD0" "load1=$(cut -d' ' -f1-3 /proc/loadavg)" "rev=$REV" \
  "fs=$(df -T "$WORK" | awk 'NR == 2 { print $2 }') ($BASE)" \
  "hugo=$("$HUGO" version | sed 's/ BuildDate=.*//; s/^hugo /Hugo /')" \
  "mdbook=$("$MDBOOK" --version | sed 's/^mdbook /mdBook /')" \
  "gen_s=$GEN_S" "generated=$GENERATED" >"$WORK/report.md" || die "writing the report failed"
cp "$WORK/report.md" "$HERE/results/build-$SIZE.md"
cat "$WORK/report.md"
log "table written to bench/results/build-$SIZE.md"
