# Sourced by the benchmarks: `apt_install PKG...` installs the Debian packages named (the
# ones a benchmark found missing), as root or through sudo; nothing when none is named.
# Uses the sourcing script's `log` and `die`.
# shellcheck shell=bash
apt_install() {
  (($#)) || return 0
  local sudo=()
  if [[ $(id -u) != 0 ]]; then
    command -v sudo >/dev/null || die "need root (or sudo) to install: $*"
    sudo=(sudo)
  fi
  log "installing $* (apt)"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" >&2
}
