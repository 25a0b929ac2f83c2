#!/usr/bin/env bash
# Authoring benchmark: `course serve` (watch, rebuild in process, live reload over SSE)
# against `hugo server` (its own watch and live reload) on the same lessons, in one run,
# reported as one markdown table (stdout, and bench/results/authoring-<quick|full>.md;
# progress goes to stderr).
#
#   bash bench/authoring.sh [--quick] [--edits N] [--theme-edits N] [--seed N]
#
# Content: `course generate --size full` (2,000 lessons in 40 courses), or `--size quick`
# (a tenth) with --quick, writes the catalogue and the same lessons as a Hugo site into the
# temp dir. One server at a time (ours, then Hugo) serves its tree on 127.0.0.1; Debian's
# chromium (headless, through playwright-core: tests/browser/live-session.mjs) keeps one
# tab open on it. Rows (ours | Hugo | ratio):
#   1  lesson edit: N edits (default 20), each of a different lesson, spread over the
#      courses: the tab is put on that lesson's page, then the lesson's file is rewritten
#      with a unique sentence appended; the time from just before the write to the
#      reloaded page's `load` event, p50 and p95 (targets for ours: p95 < 200 ms, and
#      faster than Hugo's). The reloaded page must show the sentence, or the edit fails
#   2  theme template edit, the same way on one open lesson page, --theme-edits times
#      (default 5): ours `theme/templates/lesson.html` (every lesson page changes), Hugo
#      `layouts/_default/single.html`; a new marker element each time, checked on the page
#   3  RSS of each server process (and its children) after the edits (and at start)
#   4  the rebuild time each server printed (median): ours "<file> changed: rebuilt in
#      <t>, N page(s) rendered", Hugo's "Total in N ms"
#   5  server start until ready (its initial build)
#
# Hugo runs with its defaults (`hugo server -s SITE --bind 127.0.0.1 --port P --cacheDir
# DIR`): renders to memory, live reload, and Fast Render Mode (no --disableFastRender: it is
# what `hugo server` does unless told otherwise, so what its authors use; it re-renders the
# pages open in a browser first).
#
# Options / environment:
#   --quick                 the quick catalogue (about 2 min in all; full: under 10 min)
#   --edits N               lesson edits per server (default 20, BENCH_EDITS)
#   --theme-edits N         template edits per server (default 5, BENCH_THEME_EDITS)
#   --seed N                `course generate --seed` (default 42)
#   BENCH_COURSE=PATH       benchmark this `course` binary instead of building one with
#                           `cargo build --release -p builder` (copied into the temp dir
#                           either way, so a concurrent rebuild cannot swap it)
#   BENCH_RELOAD_TIMEOUT=60 seconds an edit may take to reload the page before it fails
#   BENCH_START_TIMEOUT=300 seconds a server may take to start (its initial build)
#   BENCH_TIMEOUT=1200      seconds the browser session on one server may take in all
#   BENCH_SETTLE_MS=300     quiet time on a freshly loaded page before the write
#   BENCH_GAP_MS=500        pause after each edit (an author does not save 3 times a second)
#   BENCH_SETTLE=30         seconds to wait for busy CPUs (another build) before starting
#   BENCH_KEEP=1            keep the temp dir (trees, stores, server logs, results.tsv)
#   BENCH_TMPDIR=DIR        where the temp dir goes (default /dev/shm when it exists, else
#                           $TMPDIR or /tmp; see bench/tmpdir.sh)
#   CHROMIUM=PATH           the browser (default /usr/bin/chromium)
#
# Installs hugo, chromium, nodejs, npm (apt) only when missing, and playwright-core
# (`npm ci` in tests/browser) when tests/browser/node_modules lacks it. Every process it
# starts is stopped by its PID on exit.
set -euo pipefail

QUICK=0
EDITS=${BENCH_EDITS:-20}
THEME_EDITS=${BENCH_THEME_EDITS:-5}
SEED=42
ARGS=("$@")
need_value() { (($2 >= 2)) || { echo "authoring.sh: $1 needs a value" >&2 && exit 2; }; }
while (($#)); do
  case "$1" in
    --quick) QUICK=1 ;;
    --edits) need_value "$1" $# && EDITS=$2 && shift ;;
    --edits=*) EDITS=${1#--edits=} ;;
    --theme-edits) need_value "$1" $# && THEME_EDITS=$2 && shift ;;
    --theme-edits=*) THEME_EDITS=${1#--theme-edits=} ;;
    --seed) need_value "$1" $# && SEED=$2 && shift ;;
    --seed=*) SEED=${1#--seed=} ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "authoring.sh: unknown argument $1 (try --help)" >&2
      exit 2
      ;;
  esac
  shift
done

if ((QUICK)); then SIZE=quick; else SIZE=full; fi
RELOAD_TIMEOUT=${BENCH_RELOAD_TIMEOUT:-60}
START_TIMEOUT=${BENCH_START_TIMEOUT:-300}
SESSION_TIMEOUT=${BENCH_TIMEOUT:-1200}
SETTLE_MS=${BENCH_SETTLE_MS:-300}
GAP_MS=${BENCH_GAP_MS:-500}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
HELPER=$HERE/authoring/helper.py
DRIVER_DIR=$ROOT/tests/browser
log() { printf '[authoring-bench] %s\n' "$*" >&2; }
die() {
  printf '[authoring-bench] error: %s\n' "$*" >&2
  exit 1
}
for v in EDITS THEME_EDITS RELOAD_TIMEOUT START_TIMEOUT SESSION_TIMEOUT; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got ${!v})"
done
for v in SEED SETTLE_MS GAP_MS; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer (got ${!v})"
done

# ---------------------------------------------------------------- tools (idempotent)
export PATH="$PATH:$HOME/.cargo/bin"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
export CHROMIUM
missing=()
command -v hugo >/dev/null || missing+=(hugo)
[[ -x $CHROMIUM ]] || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v python3 >/dev/null || missing+=(python3)
command -v timeout >/dev/null || missing+=(coreutils)
# shellcheck source=bench/apt.sh
source "$HERE/apt.sh"
apt_install "${missing[@]}"
[[ -x $CHROMIUM ]] || die "no chromium at $CHROMIUM"
if [[ ! -d $DRIVER_DIR/node_modules/playwright-core ]]; then
  log "installing playwright-core (npm ci in tests/browser)"
  (cd "$DRIVER_DIR" && timeout 600 npm ci --no-audit --no-fund --loglevel=error) >&2 ||
    die "npm ci in tests/browser failed"
fi
HUGO=$(command -v hugo)

# ---------------------------------------------------------------- temp dir and cleanup
# shellcheck source=bench/tmpdir.sh
source "$HERE/tmpdir.sh"
WORK=$(mktemp -d "$BASE/authoring-bench.XXXXXX")
PIDS=() # servers and browser drivers, each stopped with its descendants on exit

tree_of() { # pid: it and its descendants (children first found), by /proc
  local pid=$1 child
  echo "$pid"
  for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do tree_of "$child"; done
}
stop() { # pid: TERM it and its descendants, wait up to 10 s, then KILL what is left
  local pid=$1 p all
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  mapfile -t all < <(tree_of "$pid")
  for p in "${all[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  for p in "${all[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait "$pid" 2>/dev/null || true
}
forget() { # pid: drop from PIDS once stopped (its number may be reused later)
  local keep=() p
  for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}
run_waiting() { # cmd...: run it in the background and wait, so INT/TERM reach the traps at once
  local pid rc=0
  "$@" &
  pid=$!
  PIDS+=("$pid")
  wait "$pid" || rc=$?
  forget "$pid"
  return "$rc"
}
cleanup() {
  local rc=$? i f
  trap - EXIT INT TERM
  # The browser drivers' PIDs are written by helper.py (their chromium are their children).
  for f in "$WORK"/pids/*.pid; do
    [[ -e $f ]] && PIDS+=("$(cat "$f")")
  done
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop "${PIDS[i]}"; done
  if ((rc != 0)); then
    for f in "$WORK"/runs/*-serve.err "$WORK"/pids/*.driver.err; do
      [[ -s $f ]] || continue
      log "$(basename "$f") (last lines):"
      tail -n 5 "$f" >&2
    done
  fi
  if [[ -n ${BENCH_KEEP:-} ]]; then log "kept $WORK (BENCH_KEEP)"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$WORK/bin" "$WORK/runs" "$WORK/out" "$WORK/pids"
us() { local t=${1//[^0-9]/}; echo $((10#$t)); } # EPOCHREALTIME -> microseconds

# ---------------------------------------------------------------- our binary
if [[ -n ${BENCH_COURSE:-} ]]; then
  [[ -x $BENCH_COURSE ]] || die "BENCH_COURSE=$BENCH_COURSE is not an executable"
  cp "$BENCH_COURSE" "$WORK/bin/course"
  REV="\`$BENCH_COURSE\` (BENCH_COURSE)"
else
  log "cargo build --release -p builder (waits if another build holds the lock)"
  (cd "$ROOT" && timeout 3600 cargo build --release -p builder) ||
    die "cargo build --release failed (see above): the workspace must compile to be benchmarked"
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/course"
  [[ -x $BIN ]] || die "release binary not found: $BIN"
  # A copy: others build into the same target dir while this runs.
  cp "$BIN" "$WORK/bin/course"
  REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
  if [[ -n $(git -C "$ROOT" status --porcelain -- builder bundle edge-origin generate Cargo.toml Cargo.lock 2>/dev/null) ]]; then
    REV="$REV + uncommitted changes in the working tree"
  fi
fi
COURSE=$WORK/bin/course
"$COURSE" serve --help >/dev/null 2>&1 || die "$COURSE has no serve command"

# ---------------------------------------------------------------- content
C=$WORK/content H=$WORK/hugo
log "course generate --size $SIZE --seed $SEED (catalogue and Hugo site)"
run_waiting timeout 600 "$COURSE" generate --out "$C" --size "$SIZE" --seed "$SEED" --theme "$ROOT/content/theme" \
  --hugo "$H" >"$WORK/generate.out" 2>&1 ||
  { cat "$WORK/generate.out" >&2; die "course generate failed"; }
GENERATED=$(head -n 1 "$WORK/generate.out" | sed -n 's/^generated \(.*\) in [0-9.]*[a-z]* -> .*/\1/p')
GENERATED="${GENERATED/: / (})"
log "  $(head -n 1 "$WORK/generate.out" | sed 's/ -> .*//')"
[[ -f $C/theme/templates/lesson.html ]] || die "the generated tree has no theme/templates/lesson.html"
[[ -f $H/layouts/_default/single.html ]] || die "the Hugo site has no layouts/_default/single.html"
python3 "$HELPER" lessons "$C" "$H" "$EDITS" >"$WORK/lessons.txt" || die "picking the lessons failed"
mapfile -t PICKED <"$WORK/lessons.txt"
N_LESSONS=$(find "$C/courses" -mindepth 2 -maxdepth 2 -name '*.md' | wc -l)
log "$N_LESSONS lessons in each tree; editing $EDITS of them, the theme on ${PICKED[-1]}"

python3 - "$WORK/plan.json" "$C" "$H" "$RELOAD_TIMEOUT" "$SETTLE_MS" "$GAP_MS" "$THEME_EDITS" "${PICKED[@]}" <<'PY'
import json, sys
out, c, h, reload_s, settle, gap, theme_edits, *picked = sys.argv[1:]
json.dump({
    "trees": {"ours": c, "hugo": h},
    "lesson_file": {"ours": "courses/{rel}.md", "hugo": "content/{rel}.md"},
    "template": {"ours": "theme/templates/lesson.html", "hugo": "layouts/_default/single.html"},
    # The marker goes just before the lesson's article in each template.
    "template_anchor": {"ours": '<article class="lesson-body', "hugo": "<article>"},
    "lessons": picked[:-1], "theme_lesson": picked[-1],
    "n_lesson": len(picked) - 1, "n_theme": int(theme_edits),
    "reload_timeout_s": int(reload_s), "settle_ms": int(settle), "gap_ms": int(gap),
}, open(out, "w"), indent=1)
PY

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
((BUSY < 25)) || log "warning: CPUs already $BUSY% busy before the run: results will be noisy"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- servers
RESULTS=$WORK/results.tsv
: >"$RESULTS"
declare -A START_MS RSS_START RSS_END BASE_URL
SERVER_PID=""

wait_ready() { # tool out-file: until the server printed its address; sets BASE_URL[tool]
  local tool=$1 out=$2 deadline=$((SECONDS + START_TIMEOUT)) addr=""
  while ((SECONDS < deadline)); do
    kill -0 "$SERVER_PID" 2>/dev/null ||
      die "$tool server exited while starting: $(tail -n 5 "${out%.out}.err" "$out" 2>/dev/null)"
    case $tool in
      ours)
        addr=$(sed -n 's|^edge-origin listening on \(http://[0-9.:]*\)/.*|\1|p' "$out" | head -n 1)
        [[ -n $addr ]] && grep -q '^watching ' "$out" && break
        ;;
      hugo)
        addr=$(sed -n 's|^Web Server is available at [a-z]*:*//[a-z0-9.]*:\([0-9]*\)/.*|http://127.0.0.1:\1|p' "$out" | head -n 1)
        [[ -n $addr ]] && break
        ;;
    esac
    addr=""
    sleep 0.05
  done
  [[ -n $addr ]] || die "$tool server not ready within BENCH_START_TIMEOUT=$START_TIMEOUT s"
  BASE_URL[$tool]=$addr
}

run_server() { # tool
  local tool=$1 out=$WORK/runs/$1-serve.out err=$WORK/runs/$1-serve.err t0 t1 page rss port
  log "$tool: starting the server"
  : >"$out" # before the server starts (it opens them in the background)
  : >"$err"
  port=$(python3 "$HELPER" free-port)
  t0=$EPOCHREALTIME
  case $tool in
    ours)
      "$COURSE" serve --content "$C" --out "$WORK/out/ours" --listen 127.0.0.1:0 >"$out" 2>"$err" &
      SERVER_PID=$!
      page="/courses/${PICKED[0]}/"
      ;;
    hugo)
      "$HUGO" server -s "$H" --bind 127.0.0.1 --port "$port" \
        --cacheDir "$WORK/out/hugo-cache" >"$out" 2>"$err" &
      SERVER_PID=$!
      page="/${PICKED[0]}.html"
      ;;
  esac
  PIDS+=("$SERVER_PID")
  wait_ready "$tool" "$out"
  run_waiting timeout $((START_TIMEOUT + 10)) python3 "$HELPER" wait-http "${BASE_URL[$tool]}$page" "$START_TIMEOUT" ||
    die "$tool: ${BASE_URL[$tool]}$page does not answer"
  t1=$EPOCHREALTIME
  START_MS[$tool]=$(awk -v us=$(($(us "$t1") - $(us "$t0"))) 'BEGIN { printf "%.0f", us / 1000 }')
  read -r rss _ < <(python3 "$HELPER" rss "$SERVER_PID")
  RSS_START[$tool]=$rss
  log "$tool: serving at ${BASE_URL[$tool]} after ${START_MS[$tool]} ms, RSS $((rss / 1024)) MiB"

  log "$tool: $EDITS lesson edits, $THEME_EDITS theme edits in chromium"
  local rc=0
  run_waiting timeout "$SESSION_TIMEOUT" python3 "$HELPER" session "$tool" "${BASE_URL[$tool]}/" "$WORK/plan.json" \
    "$RESULTS" "$WORK/pids/driver-$tool.pid" "$DRIVER_DIR" "$SERVER_PID" || rc=$?
  ((rc == 0)) || {
    ((rc == 124)) && die "$tool: the browser session took longer than BENCH_TIMEOUT=$SESSION_TIMEOUT s"
    die "$tool: the browser session failed (status $rc)"
  }
  kill -0 "$SERVER_PID" 2>/dev/null || die "$tool server died during the edits: $(tail -n 5 "$err")"
  read -r rss _ < <(python3 "$HELPER" rss "$SERVER_PID")
  RSS_END[$tool]=$rss
  log "$tool: RSS after the edits $((rss / 1024)) MiB"
  stop "$SERVER_PID"
  forget "$SERVER_PID"
  SERVER_PID=""
}

for tool in ours hugo; do run_server "$tool"; done

# ---------------------------------------------------------------- report
CPU=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
MEM=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
CMD="bash bench/authoring.sh"
((${#ARGS[@]})) && CMD="$CMD ${ARGS[*]}"
PLAYWRIGHT=$(sed -n 's/^ *"version": "\(.*\)",*$/\1/p' "$DRIVER_DIR/node_modules/playwright-core/package.json" | head -n 1)
mkdir -p "$HERE/results"
FACTS=(
  "size=$SIZE" "seed=$SEED" "edits=$EDITS" "theme_edits=$THEME_EDITS" "lessons=$N_LESSONS"
  "date=$(date -u '+%Y-%m-%d %H:%M UTC')" "command=$CMD" "nproc=$(nproc)" "cpu=${CPU:-unknown}" "mem=$MEM"
  "busy=$BUSY%" "load0=$LOAD0" "load1=$(cut -d' ' -f1-3 /proc/loadavg)" "rev=$REV"
  "fs=$(df -T "$WORK" | awk 'NR == 2 { print $2 }') ($BASE)"
  "hugo=$("$HUGO" version | sed 's/ BuildDate=.*//; s/^hugo /Hugo /')"
  "chromium=$("$CHROMIUM" --version 2>/dev/null | sed 's/ *$//' || echo chromium)" "playwright=${PLAYWRIGHT:-?}"
  "generated=$GENERATED" "settle_ms=$SETTLE_MS" "gap_ms=$GAP_MS"
  "ours_out=$WORK/runs/ours-serve.out" "hugo_out=$WORK/runs/hugo-serve.out"
  "ours_start_ms=${START_MS[ours]}" "hugo_start_ms=${START_MS[hugo]}"
  "ours_rss_start=${RSS_START[ours]}" "ours_rss_end=${RSS_END[ours]}"
  "hugo_rss_start=${RSS_START[hugo]}" "hugo_rss_end=${RSS_END[hugo]}"
)
# Kept with BENCH_KEEP: `mapfile -t F <facts.txt; helper.py report results.tsv "${F[@]}"`
# writes the table again (after a change to the report).
printf '%s\n' "${FACTS[@]}" >"$WORK/facts.txt"
python3 "$HELPER" report "$RESULTS" "${FACTS[@]}" >"$WORK/report.md" || die "writing the report failed"
cp "$WORK/report.md" "$HERE/results/authoring-$SIZE.md"
cat "$WORK/report.md"
log "table written to bench/results/authoring-$SIZE.md"
