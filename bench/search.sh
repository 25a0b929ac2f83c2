#!/usr/bin/env bash
# Search and offline benchmark: our Pagefind search against mdBook's built-in search on the
# same lessons, and saving the largest course for offline, in one run, reported as one
# markdown table (stdout, and bench/results/search-<quick|full>.md; progress on stderr).
#
#   bash bench/search.sh [--quick] [--seed N]
#
# Content: `course generate --size full` (2,000 lessons in 40 courses) or `--size quick`
# with --quick, with the same lessons as an mdBook (`--mdbook`). Ours is built with
# `course build --timings` and served by edge-origin (no grants: enrolled courses' indexes
# answer 403 and are not merged, as for a visitor); the book is built with `mdbook build`
# and served by `python3 -m http.server`. For each of 5 queries (words drawn from the
# lessons), each tool gets a fresh chromium context (cold cache): open a lesson page, wait
# for it to settle, type the query, wait for the first result.
# Rows:
#   search bytes before the first result (median and max over the queries; each file's
#   body as its server sends it: ours the manifest's br variant when chromium got br, else
#   the identity size; mdBook's file size from http.server, which does not compress, with
#   the gzip size of its search index beside it, as a CDN would send it)
#   time to first result (median over the queries, from the first key)
#   index bytes on disk (ours: every /_search/ and /courses/*/_search/ route; mdBook:
#   its searchindex file(s))
#   build time added (ours: the "search index" phase of --timings, and the cold build)
#   offline: bytes and time to save the largest public course, pages of it served offline
#
# Environment:
#   BENCH_COURSE / BENCH_ORIGIN   use these `course` / `edge-origin` binaries (default:
#                                 `cargo build --release -p builder -p edge-origin`)
#   BENCH_KEEP=1                  keep the temp dir
#   BENCH_TMPDIR=DIR              where the temp dir goes (bench/tmpdir.sh)
# Installs mdbook (cargo install mdbook --locked) when missing; needs chromium, node and
# tests/browser's node modules (scripts/install-test-deps).
set -euo pipefail

QUICK=0
SEED=42
while (($#)); do
  case "$1" in
    --quick) QUICK=1 ;;
    --seed) SEED=$2 && shift ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "search.sh: unknown argument $1 (try --help)" >&2
      exit 2
      ;;
  esac
  shift
done
SIZE=full
((QUICK)) && SIZE=quick

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
log() { printf '[search-bench] %s\n' "$*" >&2; }
die() {
  printf '[search-bench] error: %s\n' "$*" >&2
  exit 1
}

export PATH="$PATH:$HOME/.cargo/bin"
command -v chromium >/dev/null || die "chromium is missing (scripts/install-test-deps)"
command -v node >/dev/null || die "node is missing (scripts/install-test-deps)"
[[ -d $ROOT/tests/browser/node_modules/playwright-core ]] ||
  die "tests/browser's node modules are missing: (cd tests/browser && npm ci)"
if ! command -v mdbook >/dev/null; then
  log "installing mdbook (cargo install mdbook --locked)"
  cargo install mdbook --locked >&2 || die "cargo install mdbook failed"
fi

# shellcheck source=bench/tmpdir.sh
source "$HERE/tmpdir.sh"
WORK=$(mktemp -d "$BASE/search-bench.XXXXXX")
PIDS=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [[ -n ${BENCH_KEEP:-} ]]; then log "kept $WORK (BENCH_KEEP)"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$WORK/bin"

if [[ -n ${BENCH_COURSE:-} && -n ${BENCH_ORIGIN:-} ]]; then
  cp "$BENCH_COURSE" "$WORK/bin/course"
  cp "$BENCH_ORIGIN" "$WORK/bin/edge-origin"
  REV="\`$BENCH_COURSE\`, \`$BENCH_ORIGIN\`"
else
  log "cargo build --release -p builder -p edge-origin"
  (cd "$ROOT" && cargo build --release -p builder -p edge-origin) || die "cargo build failed"
  for b in course edge-origin; do cp "${CARGO_TARGET_DIR:-$ROOT/target}/release/$b" "$WORK/bin/$b"; done
  REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
fi
COURSE=$WORK/bin/course

C=$WORK/content B=$WORK/book
log "course generate --size $SIZE --seed $SEED (catalogue and mdBook)"
"$COURSE" generate --out "$C" --size "$SIZE" --seed "$SEED" --theme "$ROOT/content/theme" --mdbook "$B" \
  >"$WORK/generate.out" 2>&1 || { cat "$WORK/generate.out" >&2; die "course generate failed"; }

log "course build --timings"
T0=$EPOCHREALTIME
"$COURSE" build --content "$C" --out "$WORK/dist" --timings >"$WORK/build.out" 2>&1 ||
  { cat "$WORK/build.out" >&2; die "course build failed"; }
T1=$EPOCHREALTIME
log "mdbook build"
mdbook build "$B" -d "$WORK/book-out" >"$WORK/mdbook.out" 2>&1 || { cat "$WORK/mdbook.out" >&2; die "mdbook build failed"; }
T2=$EPOCHREALTIME

"$WORK/bin/edge-origin" --store "$WORK/dist" --listen 127.0.0.1:0 >"$WORK/origin.out" 2>"$WORK/origin.err" &
PIDS+=($!)
(cd "$WORK/book-out" && exec python3 -m http.server --bind 127.0.0.1 0 >"$WORK/http.out" 2>&1) &
PIDS+=($!)
for _ in $(seq 100); do
  OURS=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$WORK/origin.out" | head -n 1)
  PORT=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$WORK/http.out" | head -n 1)
  [[ -n $OURS && -n $PORT ]] && break
  sleep 0.1
done
[[ -n $OURS && -n $PORT ]] || die "the servers did not start"
MD=http://127.0.0.1:$PORT/

python3 - "$WORK" "$C" "$B" >"$WORK/plan.json" <<'EOF'
import json, os, re, sys, collections
work, content, book = sys.argv[1:]
m = json.load(open(f"{work}/dist/channels/live.json"))
manifest = json.load(open(f"{work}/dist/releases/{m['release']}.json"))
routes = manifest["routes"]
index_bytes = sum(r["size"] for k, r in routes.items() if "/_search/" in k)
public = sorted(k for k, r in routes.items() if k.startswith("/courses/") and r["access"] == "public"
                and r["type"].startswith("text/html") and k.count("/") == 4)
# Five words from public lessons: frequent enough to match, rare enough to mean something.
words = collections.Counter()
for k in public[:400]:
    html = open(f"{work}/dist/objects/{routes[k]['object']}", encoding="utf-8", errors="replace").read()
    body = html.split("data-pagefind-body", 1)[-1]
    words.update(w for w in re.findall(r"[a-z]{7,}", re.sub(r"<[^>]+>", " ", body).lower()))
common = [w for w, n in words.most_common() if 3 <= n <= 200][:200]
queries = common[::max(1, len(common) // 5)][:5]
# mdBook 0.5 names it searchindex-<hash>.js (0.4: searchindex.js and .json).
md_files = [f for f in os.listdir(f"{work}/book-out") if f.startswith("searchindex")]
md_index = sum(os.path.getsize(f"{work}/book-out/{f}") for f in md_files)
lesson = public[len(public) // 2]
# The same lesson in the book: its chapter file names follow the lesson's slugs.
slug = lesson.rstrip("/").split("/")[-1]
md_page = next((os.path.relpath(os.path.join(d, f), f"{work}/book-out") for d, _, fs in os.walk(f"{work}/book-out")
                for f in fs if f == f"{slug}.html"), "index.html")
courses = collections.defaultdict(int)
for k, r in routes.items():
    if k.endswith("/_offline.json") and r["access"] == "public":
        courses[k] = r["size"]
largest, biggest = None, -1
for k in courses:
    lst = json.load(open(f"{work}/dist/objects/{routes[k]['object']}"))
    if lst["bytes"] > biggest:
        largest, biggest = k[: -len("_offline.json")], lst["bytes"]
print(json.dumps({"index_bytes": index_bytes, "md_index_bytes": md_index, "queries": queries,
                  "page": lesson, "md_page": md_page, "largest": largest}))
EOF
read -r -a QUERIES < <(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["queries"]))' "$WORK/plan.json")
PAGE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["page"])' "$WORK/plan.json")
MD_PAGE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["md_page"])' "$WORK/plan.json")
LARGEST=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["largest"])' "$WORK/plan.json")
log "queries: ${QUERIES[*]} (from $PAGE; book page $MD_PAGE)"
node "$HERE/search/measure.mjs" search "$OURS" "$PAGE" "$MD" "$MD_PAGE" "${QUERIES[@]}" >"$WORK/search.json" ||
  die "the search measurement failed"
log "saving $LARGEST for offline"
node "$HERE/search/measure.mjs" offline "$OURS" "$LARGEST" >"$WORK/offline.json" || die "the offline measurement failed"

mkdir -p "$ROOT/bench/results"
RESULT=$ROOT/bench/results/search-$SIZE.md
python3 - "$WORK" "$SIZE" "$REV" "$T0" "$T1" "$T2" "$B" >"$RESULT" <<'EOF'
import json, gzip, os, statistics, sys, re
work, size, rev, t0, t1, t2, book = sys.argv[1:]
plan = json.load(open(f"{work}/plan.json"))
runs = json.load(open(f"{work}/search.json"))["runs"]
off = json.load(open(f"{work}/offline.json"))
build = open(f"{work}/build.out").read()
phase = re.search(r"search index\s+([0-9.]+\s*\w+)", build)
def kb(n): return f"{n / 1024:,.1f} KiB"
def med(xs): return statistics.median(xs)
manifest_ptr = json.load(open(f"{work}/dist/channels/live.json"))
routes = json.load(open(f"{work}/dist/releases/{manifest_ptr['release']}.json"))["routes"]
def served(r, f):
    """Body bytes of one fetched file as its server sent it."""
    if r["tool"] == "ours":
        route = routes.get(f["url"])
        if route is None or f.get("status") != 200:
            return 0  # a probe answered 403 (a small error page) or a miss
        enc = f.get("encoding")
        return route["encodings"][enc]["size"] if enc and enc in route.get("encodings", {}) else route["size"]
    path = f"{work}/book-out{f['url']}"
    return os.path.getsize(path) if os.path.exists(path) else 0
for r in runs:
    for f in r["files"]:
        f["bytes"] = served(r, f)
    r["bytes"] = sum(f["bytes"] for f in r["files"])
ours = [r for r in runs if r["tool"] == "ours"]
md = [r for r in runs if r["tool"] == "mdbook"]
md_gz = 0
for f in os.listdir(f"{work}/book-out"):
    if f.startswith("searchindex"):
        md_gz = max(md_gz, len(gzip.compress(open(f"{work}/book-out/{f}", "rb").read(), 6)))
ratio = med([r["bytes"] for r in md]) / max(1, med([r["bytes"] for r in ours]))
print(f"# Search and offline ({size} catalogue)\n")
print(f"Binaries: {rev}. Queries: {', '.join(r['query'] for r in ours)}.\n")
print("| measure | ours (Pagefind) | mdBook | ours vs mdBook |")
print("|---|---|---|---|")
print(f"| search bytes before the first result, median (max) | {kb(med([r['bytes'] for r in ours]))} ({kb(max(r['bytes'] for r in ours))}) | {kb(med([r['bytes'] for r in md]))} ({kb(max(r['bytes'] for r in md))}); its index gzipped: {kb(md_gz)} | {ratio:.1f}x less |")
print(f"| time to first result, median (max) | {med([r['ms'] for r in ours]):.0f} ms ({max(r['ms'] for r in ours)} ms) | {med([r['ms'] for r in md]):.0f} ms ({max(r['ms'] for r in md)} ms) | |")
print(f"| results for each query | {', '.join(str(r['results']) for r in ours)} | {', '.join(str(r['results']) for r in md)} | |")
print(f"| index bytes on disk | {kb(plan['index_bytes'])} (all scopes) | {kb(plan['md_index_bytes'])} | |")
print(f"| build | `course build` cold {float(t1) - float(t0):.1f} s, of which search index {phase.group(1) if phase else '?'} | `mdbook build` {float(t2) - float(t1):.1f} s | |")
print(f"| offline: save the largest public course ({plan['largest']}) | {off['files']} files, {kb(off['bytes'])} in {off['save_ms'] / 1000:.1f} s; {off['served_offline']} of {off['pages']} pages served offline | (none) | |")
print()
print("Per query (bytes, ms, files):\n")
for r in runs:
    files = ", ".join(f"{f['url'].rsplit('/', 1)[-1]} {f['bytes']}" for f in r["files"])
    print(f"- {r['tool']} `{r['query']}`: {r['bytes']} bytes, {r['ms']} ms, {r['results']} results ({files})")
EOF
cat "$RESULT"
log "wrote $RESULT"
