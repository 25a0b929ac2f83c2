#!/usr/bin/env bash
# Serve benchmark: edge-origin against nginx and Varnish on one catalogue, in one run,
# reported as one markdown table (stdout; progress goes to stderr).
#
#   bash bench/serve.sh [--quick] [--content DIR]
#
# Content: --content DIR is built as given. Without it, when `course generate` exists the
# synthetic catalogue is generated into the temp dir (`--size quick` with --quick, else
# `--size full`); otherwise the repo's sample content/ is used.
#
# The release is built into a temp store and exported as a plain file tree
# (bench/export-release.py) for nginx (sendfile, gzip_static, open_file_cache,
# access_log off). edge-origin serves the store with every public object warmed into its
# cache; Varnish (-s malloc,256m, edge-origin/deploy/varnish.vcl with its backend pointed
# at that edge-origin) sits in front of it. Everything binds to 127.0.0.1 only. Before any
# load, edge-origin and nginx must answer every public route (identity and gzip, and a
# 404) with the same status, Content-Encoding and bytes, and Varnish the mix with
# edge-origin's bytes, as hits. Rows:
#   1a  one lesson page (wrk, gzip): edge-origin vs nginx, req/s and p99
#   1b  a mix of up to 2,000 public routes, half lesson pages, half page assets
#       (animations, images, css, js), rotated by bench/rotate.lua: edge-origin vs nginx
#   2   the same mix through Varnish in front of edge-origin: vs nginx, vs edge-origin
#   3   an enrolled-only lesson with a valid signed cookie (`course sign`, key given to
#       edge-origin by --trusted-key) vs the public page of 1a: target ratio >= 0.8
#       (a catalogue without an enrolled course: both pages from the sample content/,
#       served by a second edge-origin)
#   4   1,000 concurrent requests on a fresh edge-origin (empty cache), (a) all for one
#       object, (b) over 100 distinct objects: store fetches (from /metrics) vs objects,
#       which must be exactly 1 each, all 200 with the right bytes, wall time
#   5   RSS (VmRSS/VmHWM) of a fresh edge-origin after requesting every representation of
#       every public route: (a) twice with a small --cache-bytes (32 MiB, or a quarter of
#       a catalogue under 64 MiB) vs that limit, (b) once with a cache holding it all vs
#       the catalogue's bytes
#
# Options / environment:
#   --quick                 1 round of 3 s wrk runs (default: 3 rounds of 10 s)
#   --content DIR           content to build (see above)
#   BENCH_THREADS=2 BENCH_CONNECTIONS=64 BENCH_DURATION=10s BENCH_ROUNDS=3
#                           the wrk load; each round runs every wrk scenario on every
#                           server (rotating which goes first), the table shows medians
#   BENCH_MIX=2000          routes in the mix of 1b/2
#   BENCH_COLD=1000 BENCH_COLD_OBJECTS=100
#                           requests and distinct objects of row 4
#   BENCH_EDGE_RUST_LOG=... RUST_LOG for edge-origin (default: unset, i.e. its own
#                           default "info"); the table header says which level was used
#   BENCH_EDGE_ACCESS_LOG=off  edge-origin's --access-log (default off, like nginx's
#                           `access_log off` here, so both do the same work; `stderr`
#                           measures it with its batched one-line-per-request log)
#   BENCH_SETTLE=30         seconds to wait for busy CPUs (another build) before the load
#   BENCH_KEEP=1            keep the temp dir (store, export, wrk outputs, logs)
#
# Installs nginx, wrk, varnish, curl, openssl, python3 (apt) only when missing.
# Everything it starts is stopped on exit, and its temp dir is removed.
set -euo pipefail

QUICK=0
CONTENT=""
while (($#)); do
  case "$1" in
    --quick) QUICK=1 ;;
    --content)
      (($# >= 2)) || { echo "serve.sh: --content needs a directory" >&2 && exit 2; }
      CONTENT=$2
      shift
      ;;
    --content=*) CONTENT=${1#--content=} ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "serve.sh: unknown argument $1 (try --help)" >&2
      exit 2
      ;;
  esac
  shift
done

THREADS=${BENCH_THREADS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
if ((QUICK)); then
  DURATION=${BENCH_DURATION:-3s} ROUNDS=${BENCH_ROUNDS:-1}
else
  DURATION=${BENCH_DURATION:-10s} ROUNDS=${BENCH_ROUNDS:-3}
fi
MIX=${BENCH_MIX:-2000}
COLD=${BENCH_COLD:-1000}
COLD_OBJECTS=${BENCH_COLD_OBJECTS:-100}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
HELPER=$HERE/serve/helper.py
log() { printf '[serve-bench] %s\n' "$*" >&2; }
die() {
  printf '[serve-bench] error: %s\n' "$*" >&2
  exit 1
}
for v in ROUNDS MIX COLD COLD_OBJECTS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "BENCH_$v must be a positive integer"
done
if [[ -n $CONTENT ]]; then
  [[ -d $CONTENT ]] || die "--content $CONTENT: not a directory"
  CONTENT=$(cd "$CONTENT" && pwd)
fi

# ---------------------------------------------------------------- tools (idempotent)
export PATH="$PATH:/usr/sbin:/sbin"
missing=()
command -v nginx >/dev/null || missing+=(nginx)
command -v wrk >/dev/null || missing+=(wrk)
command -v varnishd >/dev/null || missing+=(varnish)
command -v curl >/dev/null || missing+=(curl)
command -v openssl >/dev/null || missing+=(openssl)
command -v python3 >/dev/null || missing+=(python3)
# shellcheck source=bench/apt.sh
source "$HERE/apt.sh"
apt_install "${missing[@]}"
NGINX=$(command -v nginx)
VARNISHD=$(command -v varnishd)
# Row 4 holds $COLD connections open at once (plus the servers' own).
if (($(ulimit -n) < COLD + 1024)); then
  ulimit -n $((COLD + 1024)) 2>/dev/null || die "ulimit -n $(ulimit -n) is too low for $COLD connections"
fi

# ---------------------------------------------------------------- temp dir and cleanup
WORK=$(mktemp -d "${TMPDIR:-/tmp}/serve-bench.XXXXXX")
# nginx's and Varnish's workers run unprivileged when this script runs as root: they
# must reach the tree.
chmod 755 "$WORK"
PIDS=() # everything started, stopped in reverse order on exit

stop() { # pid: TERM, wait up to 10 s, then KILL
  local pid=$1
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop "${PIDS[i]}"; done
  if ((rc != 0)); then
    for f in "$WORK"/edge-*.err; do
      [[ -e $f ]] || continue
      if grep -q -E ' (WARN|ERROR) ' "$f"; then
        log "$(basename "$f") warnings/errors:"
        grep -m 5 -E ' (WARN|ERROR) ' "$f" >&2
      fi
    done
    for f in "$WORK/nginx/error.log" "$WORK/varnish/varnishd.log"; do
      if [[ -s $f ]]; then
        log "$f:"
        tail -n 5 "$f" >&2
      fi
    done
  fi
  if [[ -n ${BENCH_KEEP:-} ]]; then log "kept $WORK (BENCH_KEEP)"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
forget() { # pid: drop from PIDS once stopped
  local keep=() p
  for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

# ---------------------------------------------------------------- build
log "cargo build --release -p edge-origin -p builder (waits if another build holds the lock)"
(cd "$ROOT" && cargo build --release -p edge-origin -p builder) ||
  die "cargo build --release failed (see above): the workspace must compile to be benchmarked"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
[[ -x $BIN/course && -x $BIN/edge-origin ]] || die "release binaries not found in $BIN"

if [[ -z $CONTENT ]]; then
  if "$BIN/course" generate --help >/dev/null 2>&1; then
    if ((QUICK)); then SIZE=quick; else SIZE=full; fi
    log "course generate --size $SIZE into $WORK/content"
    T0=$SECONDS
    # From the repo root: the generator copies the theme from content/theme.
    (cd "$ROOT" && "$BIN/course" generate --out "$WORK/content" --size "$SIZE") >"$WORK/generate.out" 2>&1 ||
      { cat "$WORK/generate.out" >&2; die "course generate failed"; }
    CONTENT=$WORK/content
    CONTENT_DESC="generated by \`course generate --size $SIZE\` ($((SECONDS - T0)) s)"
  else
    CONTENT=$ROOT/content
    CONTENT_DESC="the repo's sample content/ (no \`course generate\` in this build)"
  fi
else
  CONTENT_DESC="\`$CONTENT\`"
fi

log "course build --content $CONTENT into $WORK/store"
T0=$SECONDS
"$BIN/course" build --content "$CONTENT" --out "$WORK/store" >"$WORK/build.out" 2>"$WORK/build.err" ||
  { cat "$WORK/build.out" "$WORK/build.err" >&2; die "course build failed"; }
log "  $(head -n 1 "$WORK/build.out") ($((SECONDS - T0)) s)"
python3 "$HERE/export-release.py" "$WORK/store" "$WORK/www" | sed 's/^/[serve-bench]   /' >&2

mapfile -t FACTS < <(python3 "$HELPER" plan "$WORK/store" "$WORK" --mix "$MIX" --cold-objects "$COLD_OBJECTS")
((${#FACTS[@]} == 5)) || die "planning the URL lists failed"
LESSON=${FACTS[1]} ENROLLED=${FACTS[2]} ENROLLED_SLUG=${FACTS[3]} CATALOGUE=${FACTS[4]}
MIB=$((1 << 20))
# Rows 1-3 and 5b: a cache that holds the whole public catalogue with room to spare.
BIG_CACHE=$((2 * CATALOGUE > 256 * MIB ? 2 * CATALOGUE : 256 * MIB))
BIG_CACHE=$(((BIG_CACHE + MIB - 1) / MIB * MIB))
# Row 5a: 32 MiB when the catalogue is well over it, else a quarter of the catalogue.
if ((CATALOGUE > 64 * MIB)); then SMALL_CACHE=$((32 * MIB)); else SMALL_CACHE=$((CATALOGUE / 4 / 1024 * 1024)); fi
((SMALL_CACHE >= 65536)) || SMALL_CACHE=65536

# Row 3 needs an enrolled-only course. When the catalogue has none, the repo's sample
# content (which has one) is built too and served by a second edge-origin: the enrolled
# page is then compared with a public lesson of that same origin.
ACCESS_STORE=$WORK/store ACCESS_PUBLIC=$LESSON
if [[ $ENROLLED == - ]]; then
  log "no enrolled-only course in this catalogue: row 3 uses the sample content/"
  mkdir -p "$WORK/access"
  "$BIN/course" build --content "$ROOT/content" --out "$WORK/access/store" >"$WORK/access/build.out" 2>&1 ||
    { cat "$WORK/access/build.out" >&2; die "course build of the sample content failed"; }
  mapfile -t AFACTS < <(python3 "$HELPER" plan "$WORK/access/store" "$WORK/access" 2>/dev/null)
  ((${#AFACTS[@]} == 5)) || die "planning the sample content failed"
  ACCESS_STORE=$WORK/access/store ACCESS_PUBLIC=${AFACTS[1]} ENROLLED=${AFACTS[2]} ENROLLED_SLUG=${AFACTS[3]}
  [[ $ENROLLED != - ]] || die "the sample content has no enrolled-only lesson either"
fi

# A grant for the enrolled course: an ECDSA P-256 key pair, the public half trusted by
# edge-origin, the cookie from `course sign` (scoped to http://learn.test/courses/<slug>/).
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/key.pem" 2>/dev/null
openssl pkey -in "$WORK/key.pem" -pubout -out "$WORK/pub.pem" 2>/dev/null
PUBLIC_URL=http://learn.test
COOKIE=$("$BIN/course" sign --key "$WORK/key.pem" --key-pair-id KBENCH \
  --url-prefix "$PUBLIC_URL/courses/$ENROLLED_SLUG/" --ttl 2h |
  sed -n 's/^cookie: //p' | paste -sd ';' | sed 's/;/; /g')
[[ -n $COOKIE ]] || die "course sign printed no cookie"

# ---------------------------------------------------------------- edge-origin
if [[ -n ${BENCH_EDGE_RUST_LOG:-} ]]; then export RUST_LOG=$BENCH_EDGE_RUST_LOG; else unset RUST_LOG; fi
EDGE="" EDGE_PID=""
start_edge() { # name cache-bytes [store]: a fresh edge-origin on a free port; sets EDGE, EDGE_PID
  local name=$1 cache=$2 store=${3:-$WORK/store} line
  # The load generator is one address (127.0.0.1) opening up to COLD connections: no
  # per-address cap, and a connection cap above them (as behind a CDN, whose edges are
  # trusted proxies and uncapped).
  "$BIN/edge-origin" --store "$store" --listen 127.0.0.1:0 --cache-bytes "$cache" \
    --max-connections-per-ip 0 --max-connections $((COLD + 512)) \
    --access-log "${BENCH_EDGE_ACCESS_LOG:-off}" --public-url "$PUBLIC_URL" --trusted-key "KBENCH=$WORK/pub.pem" \
    >"$WORK/edge-$name.out" 2>"$WORK/edge-$name.err" &
  EDGE_PID=$!
  PIDS+=("$EDGE_PID")
  EDGE=""
  for _ in $(seq 100); do
    line=$(head -n 1 "$WORK/edge-$name.out" 2>/dev/null || true)
    if [[ $line =~ ^edge-origin\ listening\ on\ (http://127\.0\.0\.1:[0-9]+)/ ]]; then
      EDGE=${BASH_REMATCH[1]}
      break
    fi
    kill -0 "$EDGE_PID" 2>/dev/null || die "edge-origin ($name) exited: $(tail -n 5 "$WORK/edge-$name.err")"
    sleep 0.1
  done
  [[ -n $EDGE ]] || die "edge-origin ($name) did not print its address"
  for _ in $(seq 50); do
    curl -fsS "$EDGE/_origin/ready" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "edge-origin ($name) is not ready"
}
log "starting edge-origin (--cache-bytes $((BIG_CACHE / MIB))MiB, RUST_LOG=${RUST_LOG:-unset})"
start_edge main "$BIG_CACHE"
MAIN_EDGE=$EDGE MAIN_EDGE_PID=$EDGE_PID
ACCESS_EDGE=$MAIN_EDGE ACCESS_EDGE_PID=""
if [[ $ACCESS_STORE != "$WORK/store" ]]; then
  log "starting a second edge-origin on the sample content (row 3)"
  start_edge access "$BIG_CACHE" "$ACCESS_STORE"
  ACCESS_EDGE=$EDGE ACCESS_EDGE_PID=$EDGE_PID
fi

# ---------------------------------------------------------------- nginx
NGINX_PORT=$(free_port)
NG="$WORK/nginx"
mkdir -p "$NG/tmp"
USER_LINE=""
if [[ $(id -u) == 0 ]]; then
  # Root master (this box): workers drop to nobody, as in any normal nginx deployment.
  USER_LINE="user nobody $(id -gn nobody 2>/dev/null || echo nogroup);"
fi
MIME="include /etc/nginx/mime.types;"
[[ -r /etc/nginx/mime.types ]] ||
  MIME="types { text/html html; text/css css; text/javascript js; image/svg+xml svg; image/png png; application/json json; }"
cat >"$NG/nginx.conf" <<EOF
$USER_LINE
daemon off;
worker_processes auto;
pid $NG/nginx.pid;
error_log $NG/error.log warn;
events { worker_connections 4096; }
http {
    $MIME
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 1000000;   # hyper has no per-connection request cap either
    gzip off;                     # no on-the-fly compression: only the build's .gz files
    gzip_static on;
    # Each cached descriptor stays open: 10,000 per worker covers the mix (up to 2,000
    # routes x 2 files) well within the usual 20,000 open files; the full walk just cycles.
    open_file_cache max=10000 inactive=600s;
    open_file_cache_valid 600s;
    open_file_cache_min_uses 1;
    open_file_cache_errors on;
    client_body_temp_path $NG/tmp/body;
    proxy_temp_path $NG/tmp/proxy;
    fastcgi_temp_path $NG/tmp/fastcgi;
    uwsgi_temp_path $NG/tmp/uwsgi;
    scgi_temp_path $NG/tmp/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        server_name localhost;
        root $WORK/www;
        index index.html;
        error_page 404 /404.html;
        log_not_found off;
    }
}
EOF
log "starting nginx on 127.0.0.1:$NGINX_PORT"
"$NGINX" -e "$NG/error.log" -p "$NG/" -c "$NG/nginx.conf" -t -q >"$NG/test.out" 2>&1 ||
  { cat "$NG/test.out" >&2; die "nginx rejected its config"; }
"$NGINX" -e "$NG/error.log" -p "$NG/" -c "$NG/nginx.conf" >"$NG/stdout" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
NGINX_URL="http://127.0.0.1:$NGINX_PORT"
for _ in $(seq 50); do
  curl -fsS -o /dev/null "$NGINX_URL/" 2>/dev/null && break
  kill -0 "$NGINX_PID" 2>/dev/null || die "nginx exited: $(cat "$NG/stdout" "$NG/error.log" 2>/dev/null | tail -n 5)"
  sleep 0.1
done
curl -fsS -o /dev/null "$NGINX_URL/" || die "nginx does not answer on $NGINX_URL"

# ---------------------------------------------------------------- Varnish
# The repo's VCL with its backend pointed at the edge-origin above.
VN="$WORK/varnish"
mkdir -p "$VN"
VCL_SRC=$ROOT/edge-origin/deploy/varnish.vcl
EDGE_PORT=${MAIN_EDGE##*:}
for pattern in '.host = "127.0.0.1";' '.port = "8080";'; do
  (($(grep -c -F "$pattern" "$VCL_SRC") == 1)) || die "$VCL_SRC should contain \`$pattern\` exactly once"
done
sed -e 's/\.host = "127\.0\.0\.1";/.host = "127.0.0.1";/' -e "s/\\.port = \"8080\";/.port = \"$EDGE_PORT\";/" \
  "$VCL_SRC" >"$VN/varnish.vcl"
VARNISH_PORT=$(free_port)
log "starting varnishd on 127.0.0.1:$VARNISH_PORT (backend edge-origin :$EDGE_PORT)"
"$VARNISHD" -F -n "$VN/n" -a "127.0.0.1:$VARNISH_PORT" -T 127.0.0.1:0 -f "$VN/varnish.vcl" \
  -s malloc,256m >"$VN/varnishd.log" 2>&1 &
VARNISH_PID=$!
PIDS+=("$VARNISH_PID")
VARNISH_URL="http://127.0.0.1:$VARNISH_PORT"
for _ in $(seq 300); do
  curl -fsS -o /dev/null "$VARNISH_URL/_origin/ready" 2>/dev/null && break
  kill -0 "$VARNISH_PID" 2>/dev/null || die "varnishd exited: $(tail -n 5 "$VN/varnishd.log")"
  sleep 0.1
done
curl -fsS -o /dev/null "$VARNISH_URL/_origin/ready" || die "Varnish does not reach edge-origin"

# ---------------------------------------------------------------- warm and compare
log "warming edge-origin, comparing its bytes with nginx's on every public route"
python3 "$HELPER" warm-compare "$MAIN_EDGE" "$NGINX_URL" "$WORK"
log "warming Varnish with the mix and checking it against edge-origin"
python3 "$HELPER" varnish-check "$VARNISH_URL" "$MAIN_EDGE" "$WORK"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Accept-Encoding: gzip' -H "Cookie: $COOKIE" "$ACCESS_EDGE$ENROLLED")
[[ $code == 200 ]] || die "enrolled page $ENROLLED with the signed cookie answered $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Accept-Encoding: gzip' "$ACCESS_EDGE$ENROLLED")
[[ $code == 403 ]] || die "enrolled page $ENROLLED without a cookie answered $code (want 403)"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Accept-Encoding: gzip' "$ACCESS_EDGE$ACCESS_PUBLIC")
[[ $code == 200 ]] || die "public page $ACCESS_PUBLIC answered $code"
log "enrolled page $ENROLLED: 200 with the signed cookie, 403 without"

# ---------------------------------------------------------------- load (rows 1-3)
run_wrk() { # label out-file url [rotate-list|-] [extra wrk args...]
  local label=$1 out=$2 url=$3 list=${4:--}
  shift 4 || shift $#
  local args=(-t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H 'Accept-Encoding: gzip' "$@")
  if [[ $list != - ]]; then args+=(-s "$HERE/rotate.lua" "$url" -- "$list"); else args+=("$url"); fi
  log "wrk $label: -t$THREADS -c$CONNECTIONS -d$DURATION"
  wrk "${args[@]}" >"$out" 2>&1 || { cat "$out" >&2; die "wrk failed"; }
  sleep 1 # let TIME_WAIT and the other server's CPU settle
}
wrk_job() { # key round: one wrk run of scenario-server `key`
  local key=$1 round=$2 out="$WORK/wrk-$1-$2.txt" tag="round $2/$ROUNDS"
  case $key in
    a-edge) run_wrk "$tag 1a lesson page -> edge-origin" "$out" "$MAIN_EDGE$LESSON" ;;
    a-nginx) run_wrk "$tag 1a lesson page -> nginx" "$out" "$NGINX_URL$LESSON" ;;
    c-edge) run_wrk "$tag 3 enrolled page + cookie -> edge-origin" "$out" "$ACCESS_EDGE$ENROLLED" - \
      -H "Cookie: $COOKIE" ;;
    c-public) run_wrk "$tag 3 public page -> edge-origin (sample content)" "$out" "$ACCESS_EDGE$ACCESS_PUBLIC" ;;
    b-edge) run_wrk "$tag 1b mix -> edge-origin" "$out" "$MAIN_EDGE/" "$WORK/mix.txt" ;;
    b-nginx) run_wrk "$tag 1b mix -> nginx" "$out" "$NGINX_URL/" "$WORK/mix.txt" ;;
    b-varnish) run_wrk "$tag 2 mix -> Varnish -> edge-origin" "$out" "$VARNISH_URL/" "$WORK/mix.txt" ;;
  esac
}
varnish_counters() { # MAIN.cache_hit MAIN.cache_miss MAIN.s_pass MAIN.client_req
  varnishstat -n "$VN/n" -1 -f MAIN.cache_hit -f MAIN.cache_miss -f MAIN.s_pass -f MAIN.client_req 2>/dev/null |
    awk '{v[$1] = $2} END {print v["MAIN.cache_hit"]+0, v["MAIN.cache_miss"]+0, v["MAIN.s_pass"]+0, v["MAIN.client_req"]+0}'
}
cpu_busy() { # percent of all CPUs busy over the next second (something else running?)
  python3 -c '
import time
def snap():
    v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(v), v[3] + v[4]
t0, i0 = snap(); time.sleep(1); t1, i1 = snap()
print(f"{100 * (1 - (i1 - i0) / max(t1 - t0, 1)):.0f}%")'
}
# Something else busy (a build)? Wait up to BENCH_SETTLE seconds for it to finish.
IDLE_CHECK=$(cpu_busy)
for ((waited = 1; waited < ${BENCH_SETTLE:-30}; waited++)); do
  ((${IDLE_CHECK%\%} >= 25)) || break
  ((waited % 10 == 1)) && log "CPUs $IDLE_CHECK busy with something else: waiting for them to settle"
  IDLE_CHECK=$(cpu_busy)
done
((${IDLE_CHECK%\%} < 25)) || log "warning: CPUs already $IDLE_CHECK busy before the load: results will be noisy"
# Row 3 compares with 1a's run when the catalogue has the enrolled course itself.
GROUP_A=(a-edge a-nginx c-edge)
if [[ -n $ACCESS_EDGE_PID ]]; then GROUP_A+=(c-public); fi
GROUP_B=(b-edge b-nginx b-varnish)
read -r VH0 VM0 VP0 VR0 < <(varnish_counters)
# Each round runs every server back to back, rotating which goes first, so slow drift
# (another process, thermal, page cache) hits all of them; the report takes medians.
for round in $(seq "$ROUNDS"); do
  for group in A B; do
    if [[ $group == A ]]; then jobs=("${GROUP_A[@]}"); else jobs=("${GROUP_B[@]}"); fi
    n=${#jobs[@]}
    for ((i = 0; i < n; i++)); do wrk_job "${jobs[(i + round - 1) % n]}" "$round"; done
  done
done
read -r VH1 VM1 VP1 VR1 < <(varnish_counters)
VARNISH_STATS="$((VR1 - VR0)) client requests: $((VH1 - VH0)) hits, $((VM1 - VM0)) misses, $((VP1 - VP0)) passes"
LOAD_PIDS=("$VARNISH_PID" "$NGINX_PID" "$MAIN_EDGE_PID")
if [[ -n $ACCESS_EDGE_PID ]]; then LOAD_PIDS+=("$ACCESS_EDGE_PID"); fi
for p in "${LOAD_PIDS[@]}"; do
  kill -0 "$p" 2>/dev/null || die "a server died during the load (pid $p)"
done

# The load phase is over: stop its servers so rows 4-5 have the box to themselves.
for p in "${LOAD_PIDS[@]}"; do
  stop "$p"
  forget "$p"
done

# ---------------------------------------------------------------- row 4: cold misses
for which in one many; do
  log "4 $which: fresh edge-origin, $COLD concurrent cold requests"
  start_edge "cold-$which" "$BIG_CACHE"
  python3 "$HELPER" burst "$EDGE" "$WORK" "$which" --requests "$COLD" --out "$WORK/burst-$which.json"
  stop "$EDGE_PID"
  forget "$EDGE_PID"
done

# ---------------------------------------------------------------- row 5: RSS vs --cache-bytes
for which in small large; do
  if [[ $which == small ]]; then cache=$SMALL_CACHE passes=2; else cache=$BIG_CACHE passes=1; fi
  log "5 $which: fresh edge-origin --cache-bytes $cache, every public representation x $passes"
  start_edge "rss-$which" "$cache"
  python3 "$HELPER" rss "$EDGE" "$EDGE_PID" "$WORK" --cache-bytes "$cache" --passes "$passes" \
    --out "$WORK/rss-$which.json"
  stop "$EDGE_PID"
  forget "$EDGE_PID"
done

# ---------------------------------------------------------------- report
CPU=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
python3 "$HELPER" report "$WORK" \
  "quick=$QUICK" "rounds=$ROUNDS" "threads=$THREADS" "connections=$CONNECTIONS" "duration=$DURATION" \
  "content=$CONTENT_DESC" "rust_log=${BENCH_EDGE_RUST_LOG:-info (default)}, --access-log ${BENCH_EDGE_ACCESS_LOG:-off}" \
  "cache=$((BIG_CACHE / MIB)) MiB" "nginx=$("$NGINX" -v 2>&1 | sed 's/.*version: //')" \
  "varnish=$("$VARNISHD" -V 2>&1 | head -n 1 | sed 's/^varnishd (//; s/ revision.*//')" \
  "wrk=$(wrk --version 2>&1 | head -n 1 | awk '{print $2}')" "nproc=$(nproc)" "cpu=${CPU:-unknown}" \
  "busy=$IDLE_CHECK" "varnish_stats=$VARNISH_STATS" "enrolled=$ENROLLED" "access_public=$ACCESS_PUBLIC" \
  "access_separate=$([[ -n $ACCESS_EDGE_PID ]] && echo 1 || echo 0)"
