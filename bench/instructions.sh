#!/usr/bin/env bash
# Instruction counts: figures that do not depend on how busy the machine is, beside the
# wall-clock ratios of bench/build.sh and bench/serve.sh. Each is the number of
# instructions (Ir) valgrind --tool=callgrind counts, so it is the same on a quiet and on
# a loaded machine (runs agree to well under 1 %):
#
#   build_cold_per_page   a cold `course build` of the generated quick catalogue
#                         (`course generate --size quick --seed 42`: 200 lessons) into a
#                         fresh store, whole process, divided by its 200 lesson pages (the
#                         pages of bench/build.sh's pages/s)
#   rebuild_one_lesson    a rebuild into that store after appending a sentence to one
#                         lesson (1 page rendered), whole process
#   hit_per_request       edge-origin answering cached hits: 1,000 requests (5 rounds of
#                         bench/serve.sh's mix of 200 routes: 100 lesson pages, the css and
#                         js, animations and images; gzip) on one keep-alive connection,
#                         after two warm-up rounds; only the requests are counted
#                         (callgrind_control zeroes the counters after the warm-up and
#                         dumps them after the last request), divided by 1,000. Each
#                         request is sent 5 ms after the previous response, so it finds
#                         the origin idle, as a request on an idle connection does: the
#                         count then does not depend on whether the next request happens
#                         to be there already (which made back-to-back runs differ by 0.3 %)
#
# Single-threaded: RAYON_NUM_THREADS=1 for the builder, TOKIO_WORKER_THREADS=1 for
# edge-origin; every run in fresh temp dirs. Counts differ between the release and the
# debug build (and between valgrind's view of the CPU and a native run: no SHA
# extensions, for one), so each profile has its own baseline figures.
#
#   bash bench/instructions.sh [--profile release|debug|all] [--runs N] [--write-baseline]
#   bash bench/instructions.sh --check
#
# Prints a table (figure, count, spread over the runs, baseline, change) to stdout,
# progress to stderr.
#   --profile P       which binaries: target/<P>/{course,edge-origin} (CARGO_TARGET_DIR is
#                     honoured); default all, i.e. each of release and debug that exists
#   --runs N          runs of every figure (default 1); the count shown is the median,
#                     the spread (max - min) / median
#   --check           CI: the debug binaries (which the test run has just built), one
#                     run; exits 1 when a figure is more than BENCH_TOLERANCE % (default
#                     10) above its baseline, or has none
#   --write-baseline  also write the measured figures of the profiles measured into
#                     bench/baseline/instructions.txt (other lines are kept). Do this
#                     deliberately, when a change is worth it, and commit the baseline in
#                     its own commit saying why
#   BENCH_KEEP=1      keep the temp dir (callgrind outputs, logs, stores)
#   BENCH_TMPDIR=DIR  where the temp dir goes (see bench/tmpdir.sh)
#
# Needs valgrind (callgrind, and callgrind_control with vgdb, which uses ptrace) and
# python3; installs valgrind (apt) only when missing. Loopback only.
set -euo pipefail

PROFILE=all
RUNS=1
CHECK=0
WRITE=0
TOLERANCE=${BENCH_TOLERANCE:-10}
need_value() { (($2 >= 2)) || { echo "instructions.sh: $1 needs a value" >&2 && exit 2; }; }
while (($#)); do
  case "$1" in
    --profile) need_value "$1" $# && PROFILE=$2 && shift ;;
    --profile=*) PROFILE=${1#--profile=} ;;
    --runs) need_value "$1" $# && RUNS=$2 && shift ;;
    --runs=*) RUNS=${1#--runs=} ;;
    --check) CHECK=1 ;;
    --write-baseline) WRITE=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "instructions.sh: unknown argument $1 (try --help)" >&2
      exit 2
      ;;
  esac
  shift
done

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
BASELINE=$HERE/baseline/instructions.txt
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
[[ $TARGET == /* ]] || TARGET=$ROOT/$TARGET
log() { printf '[instructions] %s\n' "$*" >&2; }
die() {
  printf '[instructions] error: %s\n' "$*" >&2
  exit 1
}
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer"
[[ $TOLERANCE =~ ^[0-9]+$ ]] || die "BENCH_TOLERANCE must be a whole number of percent"
if ((CHECK)); then
  ((!WRITE)) || die "--check does not write the baseline"
  [[ $PROFILE == all || $PROFILE == debug ]] || die "--check measures the debug binaries"
  PROFILE=debug
fi
case "$PROFILE" in
  release | debug) PROFILES=("$PROFILE") ;;
  all)
    PROFILES=()
    for p in release debug; do
      if [[ -x $TARGET/$p/course && -x $TARGET/$p/edge-origin ]]; then PROFILES+=("$p"); fi
    done
    ;;
  *) die "--profile must be release, debug or all" ;;
esac
((${#PROFILES[@]})) || die "no binaries in $TARGET/{release,debug}: cargo build [--release] --bin course --bin edge-origin"
for p in "${PROFILES[@]}"; do
  for b in course edge-origin; do
    [[ -x $TARGET/$p/$b ]] || die "$TARGET/$p/$b is missing: cargo build$([[ $p == release ]] && echo " --release") --bin course --bin edge-origin"
  done
done

# What is measured; changing any of these changes the figures (update the baseline).
SEED=42
MIX_ROUTES=200 WARM_ROUNDS=2 ROUNDS=5 GAP_S=0.005
EDIT="Instruction count edit: this sentence was appended."

# ---------------------------------------------------------------- tools (idempotent)
missing=()
command -v valgrind >/dev/null || missing+=(valgrind)
# shellcheck source=bench/apt.sh
source "$HERE/apt.sh"
apt_install "${missing[@]}"
for t in valgrind callgrind_control vgdb python3; do
  command -v "$t" >/dev/null || die "$t is missing"
done

# ---------------------------------------------------------------- temp dir and cleanup
# shellcheck source=bench/tmpdir.sh
source "$HERE/tmpdir.sh"
WORK=$(mktemp -d "$BASE/instructions.XXXXXX")
PIDS=()
cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [[ -n ${BENCH_KEEP:-} ]]; then log "kept $WORK (BENCH_KEEP)"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- measuring
# The instruction total callgrind wrote to FILE.
total() {
  local n
  n=$(sed -n 's/^summary: *\([0-9][0-9]*\)$/\1/p' "$1")
  [[ $n =~ ^[0-9]+$ ]] || die "no instruction total in $1"
  echo "$n"
}

# course build under callgrind (in the background: sets CG_PID): bin out-prefix content store
start_build() {
  local bin=$1 out=$2 content=$3 store=$4
  env -u RUST_LOG RAYON_NUM_THREADS=1 valgrind --tool=callgrind --log-file="$out.vg" \
    --callgrind-out-file="$out.cg" "$bin/course" build --content "$content" --out "$store" \
    >"$out.out" 2>"$out.err" &
  CG_PID=$!
  PIDS+=("$CG_PID")
}
# Waits for it (in this shell, not a subshell: it is this shell's child): pid out-prefix
# pages-rendered (a number, or "all"); writes its instruction total to out-prefix.total.
finish_build() {
  local pid=$1 out=$2 expect=$3 report
  if ! wait "$pid"; then
    tail -n 5 "$out.err" "$out.vg" >&2
    die "course build under callgrind failed ($out)"
  fi
  forget "$pid"
  report=$(head -n 1 "$out.out")
  [[ $report =~ ^built\ ([0-9]+)\ pages\ \(([0-9]+)\ rendered\) ]] || die "unexpected report from course build: $report"
  [[ $expect == all ]] && expect=${BASH_REMATCH[1]}
  ((BASH_REMATCH[2] == expect)) || die "expected $expect pages rendered, got: $report"
  total "$out.cg" >"$out.total"
}
forget() { # pid: no longer ours to stop
  local i
  for i in "${!PIDS[@]}"; do [[ ${PIDS[i]} != "$1" ]] || unset 'PIDS[i]'; done
}

# The load: URL routes-file rounds gap-seconds. Requests every route of the file, rounds
# times, in order, on one keep-alive connection (Accept-Encoding: gzip), each after the
# previous response has been read and gap seconds have passed; fails unless every
# response is a 200. Prints "requests slowest-seconds".
client() {
  python3 - "$@" <<'PY'
import http.client, sys, time
from urllib.parse import urlsplit
url, routes, rounds, gap = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
u = urlsplit(url)
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
routes = [r for r in open(routes).read().split("\n") if r]
n, slowest = 0, 0.0
for _ in range(rounds):
    for route in routes:
        t = time.monotonic()
        conn.request("GET", route, headers={"Accept-Encoding": "gzip"})
        resp = conn.getresponse()
        resp.read()
        slowest = max(slowest, time.monotonic() - t)
        if resp.status != 200:
            sys.exit(f"{route}: {resp.status}")
        n += 1
        if gap:
            time.sleep(gap)
print(n, f"{slowest:.4f}")
PY
}

# One run of every figure for the binaries in BIN, in the fresh dir DIR; writes
# DIR/<figure> (the count). The cold build runs in the background (callgrind keeps a
# process on one core) while the origin and the rebuild are measured.
measure() {
  local bin=$1 dir=$2 lessons line url pid n t0
  mkdir -p "$dir"
  env -u RUST_LOG "$bin/course" generate --size quick --seed "$SEED" --out "$dir/content" \
    --theme "$ROOT/content/theme" >"$dir/generate.out" 2>&1 ||
    { cat "$dir/generate.out" >&2; die "course generate failed"; }
  line=$(head -n 1 "$dir/generate.out")
  [[ $line =~ ^generated\ ([0-9]+)\ lessons ]] || die "unexpected report from course generate: $line"
  lessons=${BASH_REMATCH[1]}
  cp -a "$dir/content" "$dir/content-edit"

  log "  cold build of $lessons lessons under callgrind (in the background)"
  start_build "$bin" "$dir/cold" "$dir/content" "$dir/store-cold"
  local cold_pid=$CG_PID

  # The store the origin serves and the rebuild starts from: a native build.
  env -u RUST_LOG "$bin/course" build --content "$dir/content-edit" --out "$dir/store" \
    >"$dir/build.out" 2>&1 || { cat "$dir/build.out" >&2; die "course build failed"; }
  python3 "$HERE/serve/helper.py" plan "$dir/store" "$dir" --mix "$MIX_ROUTES" --seed "$SEED" \
    >/dev/null 2>"$dir/plan.err" || { cat "$dir/plan.err" >&2; die "planning the mix failed"; }

  log "  edge-origin under callgrind: $((WARM_ROUNDS * MIX_ROUTES)) warm-up requests, then $((ROUNDS * MIX_ROUTES)) counted"
  (
    exec env -u RUST_LOG TOKIO_WORKER_THREADS=1 valgrind --tool=callgrind --log-file="$dir/origin.vg" \
      --callgrind-out-file="$dir/origin.cg" "$bin/edge-origin" --store "$dir/store" \
      --listen 127.0.0.1:0 --access-log off --poll 1h >"$dir/origin.out" 2>"$dir/origin.err"
  ) &
  pid=$!
  PIDS+=("$pid")
  url=""
  for _ in $(seq 1200); do
    line=$(head -n 1 "$dir/origin.out" 2>/dev/null || true)
    if [[ $line =~ ^edge-origin\ listening\ on\ (http://127\.0\.0\.1:[0-9]+)/ ]]; then
      url=${BASH_REMATCH[1]}
      break
    fi
    kill -0 "$pid" 2>/dev/null || die "edge-origin exited: $(tail -n 5 "$dir/origin.err")"
    sleep 0.1
  done
  [[ -n $url ]] || die "edge-origin did not print its address"
  n=$((ROUNDS * $(wc -l <"$dir/mix.txt")))
  client "$url" "$dir/mix.txt" "$WARM_ROUNDS" 0 >"$dir/warm.client" || die "warm-up requests failed"
  timeout 60 callgrind_control -z "$pid" >"$dir/zero.out" 2>&1 ||
    die "callgrind_control -z failed (vgdb needs ptrace): $(tail -n 3 "$dir/zero.out")"
  client "$url" "$dir/mix.txt" "$ROUNDS" "$GAP_S" >"$dir/run.client" || die "requests failed"
  timeout 60 callgrind_control -d "$pid" >"$dir/dump.out" 2>&1 ||
    die "callgrind_control -d failed: $(tail -n 3 "$dir/dump.out")"
  kill -TERM "$pid"
  wait "$pid" || true
  forget "$pid"
  [[ $(cut -d' ' -f1 "$dir/run.client") == "$n" ]] || die "expected $n responses: $(cat "$dir/run.client")"
  t0=$(total "$dir/origin.cg.1")
  echo $((t0 / n)) >"$dir/hit_per_request"

  log "  one-lesson rebuild under callgrind"
  local files lesson
  mapfile -t files < <(find "$dir/content-edit/courses" -name '*.md' | LC_ALL=C sort)
  lesson=${files[${#files[@]} / 2]}
  printf '\n%s\n' "$EDIT" >>"$lesson"
  start_build "$bin" "$dir/rebuild" "$dir/content-edit" "$dir/store"
  finish_build "$CG_PID" "$dir/rebuild" 1
  cp "$dir/rebuild.total" "$dir/rebuild_one_lesson"

  log "  waiting for the cold build"
  finish_build "$cold_pid" "$dir/cold" all
  echo $(($(cat "$dir/cold.total") / lessons)) >"$dir/build_cold_per_page"
}

FIGURES=(build_cold_per_page rebuild_one_lesson hit_per_request)
declare -A COUNT SPREAD
for p in "${PROFILES[@]}"; do
  mkdir -p "$WORK/$p/bin"
  cp "$TARGET/$p/course" "$TARGET/$p/edge-origin" "$WORK/$p/bin/"
  for r in $(seq "$RUNS"); do
    log "$p binaries, run $r/$RUNS"
    T0=$SECONDS
    measure "$WORK/$p/bin" "$WORK/$p/run$r"
    log "  run $r: $(for f in "${FIGURES[@]}"; do printf '%s %s  ' "$f" "$(cat "$WORK/$p/run$r/$f")"; done)($((SECONDS - T0)) s)"
    # Keep what the table needs; the stores and catalogues are large.
    [[ -n ${BENCH_KEEP:-} ]] || rm -rf "$WORK/$p/run$r"/{content,content-edit,store,store-cold}
  done
  for f in "${FIGURES[@]}"; do
    mapfile -t xs < <(for r in $(seq "$RUNS"); do cat "$WORK/$p/run$r/$f"; done | sort -n)
    med=${xs[$((RUNS / 2))]}
    COUNT[$p.$f]=$med
    if ((RUNS > 1)); then
      SPREAD[$p.$f]=$(awk -v a="${xs[0]}" -v b="${xs[RUNS - 1]}" -v m="$med" 'BEGIN { printf "%.3f %%", 100 * (b - a) / m }')
    else
      SPREAD[$p.$f]="-"
    fi
  done
done

# ---------------------------------------------------------------- table and check
declare -A BASE_COUNT
if [[ -r $BASELINE ]]; then
  while read -r name count _; do
    [[ -n $name && $name != \#* ]] || continue
    BASE_COUNT[$name]=$count
  done <"$BASELINE"
fi
commas() { sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' <<<"$1"; }
failed=()
echo "| figure (instructions, valgrind --tool=callgrind) | count | spread ($RUNS runs) | baseline | change |"
echo "|---|---:|---:|---:|---:|"
for p in "${PROFILES[@]}"; do
  for f in "${FIGURES[@]}"; do
    name=$p.$f count=${COUNT[$p.$f]} ref=${BASE_COUNT[$p.$f]:-}
    if [[ -n $ref ]]; then
      change=$(awk -v c="$count" -v b="$ref" 'BEGIN { printf "%+.1f %%", 100 * (c - b) / b }')
      if awk -v c="$count" -v b="$ref" -v t="$TOLERANCE" 'BEGIN { exit !(c > b * (1 + t / 100)) }'; then
        failed+=("$name: $change")
        change="$change (over +$TOLERANCE %)"
      fi
      ref=$(commas "$ref")
    else
      ref="none" change="-"
      ((!CHECK)) || failed+=("$name: no baseline")
    fi
    echo "| $name | $(commas "$count") | ${SPREAD[$p.$f]} | $ref | $change |"
  done
done

if ((WRITE)); then
  tmp=$(mktemp "$WORK/baseline.XXXXXX")
  if [[ -r $BASELINE ]]; then
    # Keep the comments and every figure not measured now.
    while IFS= read -r row; do
      name=${row%% *}
      if [[ $row == \#* || -z $row || -z ${COUNT[$name]:-} ]]; then echo "$row"; fi
    done <"$BASELINE" >"$tmp"
  fi
  for p in "${PROFILES[@]}"; do
    for f in "${FIGURES[@]}"; do echo "$p.$f ${COUNT[$p.$f]}"; done
  done >>"$tmp"
  mkdir -p "$(dirname "$BASELINE")"
  cp "$tmp" "$BASELINE"
  log "wrote $BASELINE: commit it on its own, saying why the figures moved"
fi

if ((CHECK)); then
  if ((${#failed[@]})); then
    log "regressed by more than $TOLERANCE % (or no baseline): ${failed[*]}"
    log "if the change is worth it, update the baseline deliberately: bash bench/instructions.sh --runs 3 --write-baseline, committed on its own"
    exit 1
  fi
  log "every figure within +$TOLERANCE % of bench/baseline/instructions.txt"
fi
