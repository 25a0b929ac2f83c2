#!/usr/bin/env bash
# Access benchmark: hit throughput of an enrolled-only lesson opened by a valid signed
# cookie vs a public lesson, on the same edge-origin in one run (wrk on loopback).
#
#   bash bench/access.sh [--quick]
#
# Target (issue 5): enrolled/public >= 0.8. Both pages are cached; the enrolled one also
# pays the grant check (signature verified once, then a remembered verdict).
set -euo pipefail
DURATION=10s; [[ ${1:-} == --quick ]] && DURATION=3s
THREADS=${BENCH_THREADS:-2}; CONNECTIONS=${BENCH_CONNECTIONS:-64}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$PATH:/usr/sbin:/sbin"
for tool in wrk curl openssl; do
  command -v $tool >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk curl openssl >/dev/null; break; }
done
WORK=$(mktemp -d); PID=""
cleanup() { [[ -n $PID ]] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

(cd "$ROOT" && cargo build --release --quiet --bin course --bin edge-origin)
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
"$BIN/course" build --content "$ROOT/content" --out "$WORK/store" >/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/key.pem" 2>/dev/null
openssl pkey -in "$WORK/key.pem" -pubout -out "$WORK/pub.pem"
RUST_LOG=${BENCH_EDGE_RUST_LOG:-info} "$BIN/edge-origin" --store "$WORK/store" --listen 127.0.0.1:0 \
  --public-url http://learn.test --trusted-key "KBENCH=$WORK/pub.pem" >"$WORK/edge.out" 2>"$WORK/edge.err" &
PID=$!
for _ in $(seq 100); do grep -q listening "$WORK/edge.out" && break; sleep 0.1; done
EDGE=$(sed -n 's/.*listening on \(http:[^ ]*\)\/ .*/\1/p' "$WORK/edge.out")
[[ -n $EDGE ]] || { cat "$WORK/edge.err"; exit 1; }

ENROLLED=$(python3 -c "import json,sys;m=json.load(open(sys.argv[1]));print(sorted(r for r in m['routes'] if r.startswith('/courses/data-structures/') and r.count('/')==4)[0])" \
  "$WORK/store/releases/$(python3 -c "import json;print(json.load(open('$WORK/store/channels/live.json'))['release'])").json")
PUBLIC=/courses/python-foundations/loops/
COOKIE=$("$BIN/course" sign --key "$WORK/key.pem" --key-pair-id KBENCH --url-prefix http://learn.test/courses/data-structures/ --ttl 1h |
  sed -n 's/^cookie: //p' | paste -sd ';' | sed 's/;/; /g')
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $COOKIE" "$EDGE$ENROLLED")
[[ $code == 200 ]] || { echo "enrolled page with cookie answered $code" >&2; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' "$EDGE$ENROLLED")
[[ $code == 403 ]] || { echo "enrolled page without cookie answered $code" >&2; exit 1; }

run() { wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H 'Accept-Encoding: gzip' "$@"; }
parse() { awk '/Requests\/sec/ {rps=$2} /^ +99%/ {p99=$2} END {print rps, p99}'; }
read -r PUB_RPS PUB_P99 < <(run "$EDGE$PUBLIC" | parse)
read -r ENR_RPS ENR_P99 < <(run -H "Cookie: $COOKIE" "$EDGE$ENROLLED" | parse)
read -r PUB2_RPS PUB2_P99 < <(run "$EDGE$PUBLIC" | parse)
echo "## Access benchmark: enrolled (signed cookie) vs public, same edge-origin, one run"
echo
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), RUST_LOG=${BENCH_EDGE_RUST_LOG:-info}"
echo
echo "| page | req/s | p99 |"
echo "|---|---|---|"
echo "| public $PUBLIC (before) | $PUB_RPS | $PUB_P99 |"
echo "| enrolled $ENROLLED + cookie | $ENR_RPS | $ENR_P99 |"
echo "| public $PUBLIC (after) | $PUB2_RPS | $PUB2_P99 |"
python3 -c "import sys;e=float(sys.argv[1]);p=(float(sys.argv[2])+float(sys.argv[3]))/2;print(f'\nenrolled/public ratio: {e/p:.2f} (target >= 0.8)')" "$ENR_RPS" "$PUB_RPS" "$PUB2_RPS"
