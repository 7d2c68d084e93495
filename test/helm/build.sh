#!/usr/bin/env bash
# Builds helm v3 (helm.sh/helm/v3/cmd/helm, pinned by the tool directive in go.mod) for the e2e
# tests, into a cache directory outside the repo keyed by a hash of go.mod, go.sum, this script and
# the Go toolchain. A cache hit takes well under a second. This is its own Go module so that helm's
# Kubernetes libraries never move the control plane's pins (test/cluster/go.mod).
#
#   bash test/helm/build.sh          # -> last line of stdout: the helm binary
#
# Env: PEERDB_UPGRADE_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/peerdb-upgrade),
#      HELM_BUILD_FORCE=1 to rebuild even when cached.
# Progress and timings go to stderr; only the binary's path goes to stdout.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

log() { printf 'helm-build: %s\n' "$*" >&2; }
now() { date +%s.%N; }
since() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.1fs", e - s }'; }

t0=$(now)
command -v go >/dev/null || { log "go is not installed (need Go >= 1.26 and access to the Go module proxy)"; exit 1; }

helm_version=$(awk '$1 == "helm.sh/helm/v3" { print $2 }' go.mod)
[[ -n "$helm_version" ]] || { log "go.mod names no helm.sh/helm/v3 version"; exit 1; }

hash=$(
  {
    go env GOVERSION GOOS GOARCH
    cat go.mod go.sum build.sh
  } | sha256sum | cut -c1-16
)
cache_root="${PEERDB_UPGRADE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/peerdb-upgrade}/helm"
bin="$cache_root/$hash/bin"

if [[ "${HELM_BUILD_FORCE:-}" != 1 && -x "$bin/helm" ]]; then
  touch "$cache_root/$hash" 2>/dev/null || true   # in use: keep it from pruning
  log "cached helm $helm_version ($hash) in $(since "$t0")"
  echo "$bin/helm"
  exit 0
fi

mkdir -p "$cache_root"
tmp=$(mktemp -d "$cache_root/.build-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

t1=$(now)
GOFLAGS="${GOFLAGS:-} -mod=readonly" nice -n 10 go mod download
log "modules ready in $(since "$t1")"
t2=$(now)
log "building helm $helm_version (a cold build takes a few minutes on 2 cores)"
# helm prints its version from internal/version; without this it would say v3.x-dev-ish defaults.
GOFLAGS="${GOFLAGS:-} -mod=readonly" nice -n 10 go build -trimpath \
  -ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version -X helm.sh/helm/v3/internal/version.gitTreeState=clean" \
  -o "$tmp/helm" helm.sh/helm/v3/cmd/helm
log "helm compiled in $(since "$t2")"
"$tmp/helm" version --short >/dev/null || { log "the built helm does not run"; exit 1; }

mkdir -p "$cache_root/$hash"
rm -rf "$bin"
mv "$tmp" "$bin"
trap - EXIT

# Prune builds unused for a day (another work tree's e2e run may be using a newer or older one).
find "$cache_root" -mindepth 1 -maxdepth 1 -type d -not -name '.*' -mtime +1 -exec rm -rf {} + 2>/dev/null || true

log "done in $(since "$t0")"
echo "$bin/helm"
