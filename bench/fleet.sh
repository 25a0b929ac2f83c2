#!/usr/bin/env bash
# Reliability benchmark: a fleet on one machine under student traffic, with releases and
# faults in the middle (bench/fleet/src/scenario.rs).
#
#   bash bench/fleet.sh [--quick] [--scenario spike|day|all] [--content DIR]
#
# Builds the release binaries (course, edge-origin and the driver `fleet`), generates the
# catalogue (`course generate`, full; quick with --quick), then for each scenario starts
# one Garage, three edge-origins following the same S3 channel and two Varnish edges with
# the repo's VCL balancing over them (tests/src/fleet.rs), replays students through the
# edges (bench/fleet/src/replay) and, on the scenario's schedule, publishes, rolls back,
# kills an origin, stops the store and sends purge storms. Prints one markdown table per
# scenario on stdout and writes it to bench/results/fleet-<scenario>-full.md (-quick.md with --quick).
#
#   spike  baseline, 10x within 3 s, held, back; at the peak: a one-lesson fix, a
#          300-lesson release, a rollback, kill -9 of an origin, the store stopped 30 s,
#          a purge storm
#   day    a school day's shape (morning peak) compressed, two releases
#
# Options / environment:
#   --quick          a tenth of the catalogue and shorter holds
#   BENCH_KEEP=1     keep the temp dir
#   BENCH_TMPDIR=DIR where the temp dir goes (see bench/tmpdir.sh)
# Installs garage (cargo install) and varnish (apt) only when missing. Everything the
# driver starts runs in its own process group and is stopped on exit.
set -euo pipefail

QUICK=0
SCENARIO=all
CONTENT=""
while (($#)); do
  case "$1" in
    --quick) QUICK=1 ;;
    --scenario)
      [[ $# -ge 2 ]] || { echo "fleet.sh: --scenario needs spike, day or all" >&2; exit 2; }
      SCENARIO=$2
      shift
      ;;
    --content)
      [[ $# -ge 2 ]] || { echo "fleet.sh: --content needs a directory" >&2; exit 2; }
      CONTENT=$2
      shift
      ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "fleet.sh: unknown argument $1 (try --help)" >&2
      exit 2
      ;;
  esac
  shift
done
case "$SCENARIO" in spike | day | all) ;; *) echo "fleet.sh: unknown scenario $SCENARIO" >&2; exit 2 ;; esac

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
log() { printf '[fleet-bench] %s\n' "$*" >&2; }
die() {
  printf '[fleet-bench] error: %s\n' "$*" >&2
  exit 1
}

# ---------------------------------------------------------------- tools (idempotent)
if ! command -v garage >/dev/null; then
  log "installing garage (cargo install garage --locked --version 2.5.0; several minutes, once)"
  cargo install garage --locked --version 2.5.0 --quiet || die "cargo install garage failed"
fi
if ! command -v varnishd >/dev/null; then
  log "installing varnish (apt-get install -y varnish)"
  apt-get install -y varnish >&2 || die "apt-get install -y varnish failed"
fi

# ---------------------------------------------------------------- temp dir and cleanup
# shellcheck source=bench/tmpdir.sh
source "$HERE/tmpdir.sh"
WORK=$(mktemp -d "$BASE/fleet-bench.XXXXXX")
DRIVER_PID=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $DRIVER_PID ]] && kill -0 "$DRIVER_PID" 2>/dev/null; then
    kill -TERM -- "-$DRIVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 -- "-$DRIVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$DRIVER_PID" 2>/dev/null || true
    wait "$DRIVER_PID" 2>/dev/null || true
  fi
  if [[ -n ${BENCH_KEEP:-} ]]; then log "kept $WORK (BENCH_KEEP)"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- build
# Two builds, not one: the fleet harness builds `--bin course --bin edge-origin` itself (as
# the tests do), and one build of all three unifies features differently, so that call
# would compile most of the tree again.
log "cargo build --release --bin course --bin edge-origin; then --bin fleet"
(cd "$ROOT" && cargo build --release --bin course --bin edge-origin && cargo build --release --bin fleet) ||
  die "cargo build --release failed"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"

# ---------------------------------------------------------------- content
SIZE=full
((QUICK)) && SIZE=quick
if [[ -z $CONTENT ]]; then
  log "generating the synthetic catalogue (course generate --size $SIZE)"
  "$BIN/course" generate --out "$WORK/generated" --size "$SIZE" >&2 || die "course generate failed"
  CONTENT=$WORK/generated
fi

# ---------------------------------------------------------------- run
mkdir -p "$WORK/tmp" "$ROOT/bench/results"
# varnishd's worker runs as an unprivileged user: it must reach the VCL the harness writes
# under $WORK/tmp (mktemp -d makes $WORK 0700).
chmod 755 "$WORK" "$WORK/tmp"
SUFFIX="-full"
((QUICK)) && SUFFIX="-quick"
for name in spike day; do
  [[ $SCENARIO == all || $SCENARIO == "$name" ]] || continue
  log "scenario $name on $CONTENT"
  args=("$name" --content "$CONTENT" --json "$WORK/$name.json")
  ((QUICK)) && args+=(--quick)
  TMPDIR="$WORK/tmp" setsid "$BIN/fleet" "${args[@]}" >"$WORK/$name.md" &
  DRIVER_PID=$!
  wait "$DRIVER_PID" || die "the fleet driver failed in scenario $name (see above)"
  DRIVER_PID=""
  # goose prints "N users launched." on stdout whatever it is told: not part of the table.
  grep -v ' users launched\.$' "$WORK/$name.md" >"$ROOT/bench/results/fleet-$name$SUFFIX.md" || true
  cat "$WORK/$name.md"
done
