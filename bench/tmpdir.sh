# Sourced by the benchmarks: sets BASE, where their temp dir goes. BENCH_TMPDIR if set,
# else /dev/shm when it exists (a tmpfs: these VMs' ext4 has no journal, and there
# creating files within minutes of deleting many is pathologically slow, which would
# measure the file system's history rather than the tools), else $TMPDIR or /tmp.
# shellcheck shell=bash disable=SC2034 # BASE is for the sourcing script
if [[ -n ${BENCH_TMPDIR:-} ]]; then
  BASE=$BENCH_TMPDIR
elif [[ -d /dev/shm && -w /dev/shm ]]; then
  BASE=/dev/shm
else
  BASE=${TMPDIR:-/tmp}
fi
