#!/usr/bin/env bash
# Access benchmark (enrolled page with a signed cookie vs a public page): now row 3 of
# bench/serve.sh, which measures it in the same run as everything else. Kept as a
# wrapper so `bash bench/access.sh [--quick]` still works; it runs the whole serve.sh.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/serve.sh" "$@"
