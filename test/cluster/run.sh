#!/usr/bin/env bash
# Start a throw-away control plane in the foreground (`npm run cluster`).
# Prints the kubeconfig path; Ctrl-C stops everything and removes the work dir.
# Extra arguments go to the launcher, e.g.: npm run cluster -- --keep --ready-delay=2s -v
#   (see: "$(bash test/cluster/build.sh)/launcher" --help)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="$(bash "$here/build.sh" | tail -n1)"
echo "starting control plane (binaries in $bin) ..." >&2
exec "$bin/launcher" "$@"
