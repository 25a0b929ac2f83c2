#!/usr/bin/env bash
# Serve benchmark: edge-origin vs nginx serving the same release, measured by wrk.
#
#   bash bench/serve.sh [--quick]
#
# Builds the release binaries and the sample catalogue into a temp store, exports the live
# release as a plain file tree (bench/export-release.py) and serves it with nginx
# (sendfile, gzip_static, open_file_cache, access_log off) next to edge-origin (warmed:
# every object in its memory cache). Both bind to 127.0.0.1 only. After checking that both
# answer every route with the same bytes, wrk runs the same load against each:
#   (a) one lesson page,                     Accept-Encoding: gzip
#   (b) lesson pages + fingerprinted assets, Accept-Encoding: gzip (bench/rotate.lua)
# and a markdown table with req/s, ratio and p99 goes to stdout (progress to stderr).
#
# Options / environment:
#   --quick                 1 round of 3 s wrk runs (default: 3 rounds of 10 s)
#   BENCH_THREADS=2 BENCH_CONNECTIONS=64 BENCH_DURATION=10s BENCH_ROUNDS=3
#                           override the wrk load; each round runs every scenario on
#                           both servers (alternating which goes first) and the table
#                           shows medians over the rounds
#   BENCH_EDGE_RUST_LOG=... RUST_LOG for edge-origin (default: unset, i.e. its own
#                           default "info", which writes one access-log line per request)
#   BENCH_KEEP=1            keep the temp dir (store, export, wrk outputs, logs)
#
# Installs nginx, wrk, curl (apt) only when missing. Everything it starts is stopped on
# exit, and its temp dir is removed.
set -euo pipefail

QUICK=0
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "serve.sh: unknown argument $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

THREADS=${BENCH_THREADS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
if ((QUICK)); then
  DURATION=${BENCH_DURATION:-3s} ROUNDS=${BENCH_ROUNDS:-1}
else
  DURATION=${BENCH_DURATION:-10s} ROUNDS=${BENCH_ROUNDS:-3}
fi

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
log() { printf '[serve-bench] %s\n' "$*" >&2; }
die() {
  printf '[serve-bench] error: %s\n' "$*" >&2
  exit 1
}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive integer"

# ---------------------------------------------------------------- tools (idempotent)
export PATH="$PATH:/usr/sbin:/sbin"
missing=()
command -v nginx >/dev/null || missing+=(nginx)
command -v wrk >/dev/null || missing+=(wrk)
command -v curl >/dev/null || missing+=(curl)
command -v python3 >/dev/null || missing+=(python3)
if ((${#missing[@]})); then
  SUDO=()
  if [[ $(id -u) != 0 ]]; then
    command -v sudo >/dev/null || die "need root (or sudo) to install: ${missing[*]}"
    SUDO=(sudo)
  fi
  log "installing ${missing[*]} (apt)"
  "${SUDO[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
NGINX=$(command -v nginx)

# ---------------------------------------------------------------- temp dir and cleanup
WORK=$(mktemp -d "${TMPDIR:-/tmp}/serve-bench.XXXXXX")
# nginx's workers run as nobody when this script runs as root: they must reach the tree.
chmod 755 "$WORK"
EDGE_PID=""
NGINX_PID=""

stop() { # pid: TERM, wait up to 5 s, then KILL
  local pid=$1
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop "$EDGE_PID"
  stop "$NGINX_PID" # TERM to the master: fast shutdown, workers exit with it
  if ((rc != 0)); then
    if grep -q -E ' (WARN|ERROR) ' "$WORK/edge.err" 2>/dev/null; then
      log "edge-origin warnings/errors:"
      grep -m 5 -E ' (WARN|ERROR) ' "$WORK/edge.err" >&2
    fi
    if [[ -s $WORK/nginx/error.log ]]; then
      log "nginx error.log:"
      tail -n 5 "$WORK/nginx/error.log" >&2
    fi
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

# ---------------------------------------------------------------- build
log "cargo build --release --bin course --bin edge-origin (waits if another build holds the lock)"
(cd "$ROOT" && cargo build --release --bin course --bin edge-origin) ||
  die "cargo build --release failed (see above): the workspace must compile to be benchmarked"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
[[ -x $BIN/course && -x $BIN/edge-origin ]] || die "release binaries not found in $BIN"

log "building the sample catalogue into $WORK/store"
"$BIN/course" build --content "$ROOT/content" --out "$WORK/store" >"$WORK/build.out" 2>"$WORK/build.err" ||
  { cat "$WORK/build.out" "$WORK/build.err" >&2; die "course build failed"; }
RELEASE=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["release"])' "$WORK/store/channels/live.json")
python3 "$HERE/export-release.py" "$WORK/store" "$WORK/www" >&2

# URL lists from the manifest: the single lesson of (a), the mix of (b).
python3 - "$WORK/store/releases/$RELEASE.json" "$WORK" <<'PY'
import json, re, sys
manifest, work = json.load(open(sys.argv[1])), sys.argv[2]
# Public routes only: nginx has no notion of course grants, so enrolled-only pages are
# not comparable (edge-origin may answer them differently, e.g. 403 without a grant).
routes = {r: s for r, s in manifest["routes"].items() if s.get("access") == "public"}
lessons = [r for r in routes if re.fullmatch(r"/courses/[^/]+/[^/]+/", r)]
# What a lesson page pulls in: fingerprinted styles, scripts and images (not the
# videos and zips, which are range-fetched or downloaded, not part of a page view).
assets = [r for r, s in routes.items() if r.startswith("/assets/")
          and re.match(r"(text/css|text/javascript|image/)", s["type"])]
if not lessons or not assets:
    sys.exit("no lessons or no assets in the release")
lesson = "/courses/python-foundations/loops/"
if lesson not in routes:
    lesson = lessons[0]
mix = []
for i in range(max(len(lessons), len(assets))):  # interleave pages and assets
    if i < len(lessons): mix.append(lessons[i])
    if i < len(assets): mix.append(assets[i])
open(f"{work}/lesson.txt", "w").write(lesson + "\n")
open(f"{work}/mix.txt", "w").write("\n".join(mix) + "\n")
open(f"{work}/routes.txt", "w").write("\n".join(sorted(routes)) + "\n")
open(f"{work}/mix-summary.txt", "w").write(f"{len(lessons)} public lesson pages + {len(assets)} assets\n")
PY
LESSON=$(cat "$WORK/lesson.txt")

# ---------------------------------------------------------------- edge-origin
log "starting edge-origin"
if [[ -n ${BENCH_EDGE_RUST_LOG:-} ]]; then export RUST_LOG=$BENCH_EDGE_RUST_LOG; else unset RUST_LOG; fi
"$BIN/edge-origin" --store "$WORK/store" --listen 127.0.0.1:0 >"$WORK/edge.out" 2>"$WORK/edge.err" &
EDGE_PID=$!
EDGE=""
for _ in $(seq 100); do
  line=$(head -n 1 "$WORK/edge.out" 2>/dev/null || true)
  if [[ $line =~ ^edge-origin\ listening\ on\ (http://127\.0\.0\.1:[0-9]+)/ ]]; then
    EDGE=${BASH_REMATCH[1]}
    break
  fi
  kill -0 "$EDGE_PID" 2>/dev/null || die "edge-origin exited: $(tail -n 5 "$WORK/edge.err")"
  sleep 0.1
done
[[ -n $EDGE ]] || die "edge-origin did not print its address"
for _ in $(seq 50); do
  curl -fsS "$EDGE/_origin/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "$EDGE/_origin/ready" >/dev/null || die "edge-origin is not ready"

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
    open_file_cache max=10000 inactive=120s;
    open_file_cache_valid 120s;
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
NGINX_URL="http://127.0.0.1:$NGINX_PORT"
for _ in $(seq 50); do
  curl -fsS -o /dev/null "$NGINX_URL/" 2>/dev/null && break
  kill -0 "$NGINX_PID" 2>/dev/null || die "nginx exited: $(cat "$NG/stdout" "$NG/error.log" 2>/dev/null | tail -n 5)"
  sleep 0.1
done
curl -fsS -o /dev/null "$NGINX_URL/" || die "nginx does not answer on $NGINX_URL"

# ---------------------------------------------------------------- warm and compare
log "warming both servers and comparing their bytes on every route"
python3 - "$EDGE" "$NGINX_URL" "$WORK/routes.txt" <<'PY'
import http.client, sys
from urllib.parse import urlsplit

def connect(base):
    u = urlsplit(base)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=10)

def get(conn, path, ae):
    headers = {"Accept-Encoding": ae} if ae else {"Accept-Encoding": "identity"}
    conn.request("GET", path, headers=headers)
    r = conn.getresponse()
    return r.status, r.getheader("Content-Encoding") or "identity", r.read()

edge, nginx = connect(sys.argv[1]), connect(sys.argv[2])
routes = [l for l in open(sys.argv[3]).read().split("\n") if l]
bad = 0
# Two passes on edge-origin: the first fills its object cache, the second is all hits.
for _ in range(2):
    for path in routes:
        for ae in ("", "gzip", "br"):
            status, _, _ = get(edge, path, ae)
            if status != 200:
                print(f"  edge-origin {path} (AE {ae or 'identity'}): {status}", file=sys.stderr); bad += 1
checked = 0
for path in routes:
    for ae in ("", "gzip"):
        a, b = get(edge, path, ae), get(nginx, path, ae)
        checked += 1
        if a != b:
            bad += 1
            print(f"  MISMATCH {path} (AE {ae or 'identity'}): edge-origin {a[0]} {a[1]} {len(a[2])} B, "
                  f"nginx {b[0]} {b[1]} {len(b[2])} B", file=sys.stderr)
# The 404 page too (both send the theme's 404.html with status 404).
a, b = get(edge, "/no/such/page", "gzip"), get(nginx, "/no/such/page", "gzip")
checked += 1
if a != b:
    bad += 1
    print(f"  MISMATCH 404 page: edge-origin {a[0]} {a[1]} {len(a[2])} B, nginx {b[0]} {b[1]} {len(b[2])} B",
          file=sys.stderr)
if bad:
    sys.exit(f"{bad} problem(s): the servers do not answer the same bytes")
print(f"  same status, Content-Encoding and bytes on {checked} requests "
      f"({len(routes)} public routes x identity/gzip + a 404)", file=sys.stderr)
PY

# ---------------------------------------------------------------- load
run_wrk() { # name url out-file [url-list: rotate over it with bench/rotate.lua]
  local name=$1 url=$2 out=$3 list=${4:-}
  local args=(-t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H 'Accept-Encoding: gzip')
  if [[ -n $list ]]; then args+=(-s "$HERE/rotate.lua" "$url" -- "$list"); else args+=("$url"); fi
  log "wrk $name: -t$THREADS -c$CONNECTIONS -d$DURATION"
  wrk "${args[@]}" >"$out" 2>&1 ||
    { cat "$out" >&2; die "wrk failed"; }
  sleep 1 # let TIME_WAIT and the other server's CPU settle
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
IDLE_CHECK=$(cpu_busy)
((${IDLE_CHECK%\%} < 25)) || log "warning: CPUs already $IDLE_CHECK busy before the load: results will be noisy"
# Each round runs both servers back to back, alternating which goes first, so slow drift
# (another process, thermal, page cache) hits both; the report takes medians over rounds.
for round in $(seq "$ROUNDS"); do
  if ((round % 2)); then order=(edge nginx); else order=(nginx edge); fi
  for scenario in a b; do
    for who in "${order[@]}"; do
      if [[ $who == edge ]]; then base=$EDGE name=edge-origin; else base=$NGINX_URL name=nginx; fi
      out="$WORK/wrk-$scenario-$who-$round.txt"
      if [[ $scenario == a ]]; then
        run_wrk "round $round/$ROUNDS (a) lesson page  -> $name" "$base$LESSON" "$out"
      else
        run_wrk "round $round/$ROUNDS (b) pages+assets -> $name" "$base/" "$out" "$WORK/mix.txt"
      fi
    done
  done
done

kill -0 "$EDGE_PID" 2>/dev/null || die "edge-origin died during the run"
kill -0 "$NGINX_PID" 2>/dev/null || die "nginx died during the run"

# ---------------------------------------------------------------- report
CPU=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
python3 - "$WORK" "$LESSON" "$(cat "$WORK/mix-summary.txt")" "$(nproc)" "${CPU:-unknown}" \
  "$THREADS" "$CONNECTIONS" "$DURATION" "$RELEASE" "$("$NGINX" -v 2>&1 | sed 's/.*version: //')" \
  "$(wrk --version 2>&1 | head -n 1 | awk '{print $2}')" "${BENCH_EDGE_RUST_LOG:-info (default)}" "$QUICK" "$IDLE_CHECK" "$ROUNDS" <<'PY'
import re, sys
(work, lesson, mix, nproc, cpu, threads, conns, duration, release, nginx_v, wrk_v,
 edge_log, quick, busy_before, rounds) = sys.argv[1:]

UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}

def parse(path):
    text = open(path).read()
    m = re.search(r"^Requests/sec:\s*([\d.]+)", text, re.M)
    p = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s|m)\b", text, re.M)
    t = re.search(r"^Transfer/sec:\s*([\d.]+\S+)", text, re.M)
    n = re.search(r"^\s*(\d+) requests in", text, re.M)
    if not (m and p and n):
        sys.exit(f"cannot parse wrk output {path}:\n{text}")
    errors = []
    e = re.search(r"Socket errors: (.*)", text)
    if e: errors.append("socket errors: " + e.group(1))
    e = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if e: errors.append(f"{e.group(1)} non-2xx/3xx")
    return {"rps": float(m.group(1)), "p99": float(p.group(1)) * UNIT[p.group(2)],
            "xfer": t.group(1) if t else "?", "n": int(n.group(1)), "errors": errors}

def ms(v):
    return f"{v:.2f} ms" if v < 100 else f"{v:.0f} ms"

from statistics import median

rounds = int(rounds)
rows = [("(a) lesson page, gzip: `" + lesson + "`", "a"),
        (f"(b) mix, gzip: {mix}", "b")]
print(f"## Serve benchmark: edge-origin vs nginx{' (--quick)' if quick == '1' else ''}\n")
per = "one round" if rounds == 1 else f"median of {rounds} rounds (alternating which server goes first)"
print(f"wrk -t{threads} -c{conns} -d{duration} --latency -H 'Accept-Encoding: gzip' per server "
      f"and scenario, {per}; release {release}\n")
print("| scenario | edge-origin req/s | nginx req/s | ratio (ours/nginx) | edge-origin p99 | nginx p99 |")
print("|---|---:|---:|---:|---:|---:|")
notes = []
for label, key in rows:
    es = [parse(f"{work}/wrk-{key}-edge-{r}.txt") for r in range(1, rounds + 1)]
    ns = [parse(f"{work}/wrk-{key}-nginx-{r}.txt") for r in range(1, rounds + 1)]
    ratios = [e["rps"] / n["rps"] for e, n in zip(es, ns)]
    med = lambda runs, k: median(r[k] for r in runs)
    print(f"| {label} | {med(es, 'rps'):,.0f} | {med(ns, 'rps'):,.0f} | {median(ratios):.2f} "
          f"| {ms(med(es, 'p99'))} | {ms(med(ns, 'p99'))} |")
    rounds_txt = ", ".join(f"{e['rps']:,.0f}/{n['rps']:,.0f}={x:.2f}" for e, n, x in zip(es, ns, ratios))
    notes.append(f"- ({key}) per round edge-origin/nginx req/s: {rounds_txt}; transfer/s (round 1): "
                 f"edge-origin {es[0]['xfer']}, nginx {ns[0]['xfer']}")
    for who, runs in (("edge-origin", es), ("nginx", ns)):
        for i, r in enumerate(runs, 1):
            if r["errors"]:
                notes.append(f"- ({key}) WARNING {who} round {i}: " + "; ".join(r["errors"]))
print()
print(f"Machine: {nproc} CPUs (nproc), {cpu}. nginx {nginx_v} (worker_processes auto, "
      f"sendfile, gzip_static, open_file_cache, access_log off); wrk {wrk_v}; "
      f"edge-origin release build, RUST_LOG={edge_log}, object cache warmed.")
print(f"Note: both servers run on the same {nproc}-core box as wrk (load generator and server "
      "share the cores), so absolute numbers are noisy; compare the ratios. "
      f"CPU busy in the second before the wrk runs (servers idle): {busy_before}; "
      "well above 0% means something else was using the CPUs too.")
print("\n".join(notes))
PY
