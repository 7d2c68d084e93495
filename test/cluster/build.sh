#!/usr/bin/env bash
# Builds the e2e control plane binaries (kube-apiserver, kube-controller-manager, launcher)
# into a cache directory outside the repo, keyed by a hash of go.mod, go.sum, the Go sources
# here and this script. A cache hit takes well under a second.
#
#   bash test/cluster/build.sh          # -> last line of stdout: the bin directory
#
# Env: PEERDB_UPGRADE_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/peerdb-upgrade),
#      CLUSTER_BUILD_FORCE=1 to rebuild even when cached.
# Progress and timings go to stderr; only the bin directory goes to stdout.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

# Kubernetes release built from k8s.io/kubernetes (keep in step with go.mod).
K8S_VERSION=v1.34.4

log() { printf 'cluster-build: %s\n' "$*" >&2; }
now() { date +%s.%N; }
since() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.1fs", e - s }'; }

t0=$(now)
command -v go >/dev/null || { log "go is not installed (need Go >= 1.24 and access to the Go module proxy)"; exit 1; }

hash=$(
  {
    echo "$K8S_VERSION"
    go env GOVERSION GOOS GOARCH
    cat go.mod go.sum build.sh
    find . -name '*.go' -not -path './.*' | LC_ALL=C sort | while read -r f; do echo "$f"; cat "$f"; done
  } | sha256sum | cut -c1-16
)
cache_root="${PEERDB_UPGRADE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/peerdb-upgrade}/cluster"
bin="$cache_root/$hash/bin"
bins=(kube-apiserver kube-controller-manager launcher)

have_all() { for b in "${bins[@]}"; do [[ -x "$1/$b" ]] || return 1; done; }

if [[ "${CLUSTER_BUILD_FORCE:-}" != 1 ]] && have_all "$bin"; then
  log "cached ($hash) in $(since "$t0")"
  echo "$bin"
  exit 0
fi

mkdir -p "$cache_root"
tmp=$(mktemp -d "$cache_root/.build-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

ldflags="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=34 -X $p.gitTreeState=clean"
done

log "building kube-apiserver, kube-controller-manager ($K8S_VERSION) and launcher into $bin"
log "(a cold build downloads ~1 GB of modules and takes several minutes on 2 cores)"
t1=$(now)
GOFLAGS="${GOFLAGS:-} -mod=readonly" nice -n 10 go mod download
log "modules ready in $(since "$t1")"
t2=$(now)
GOFLAGS="${GOFLAGS:-} -mod=readonly" nice -n 10 go build -trimpath -ldflags="$ldflags" -o "$tmp/" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  ./cmd/launcher
log "compiled in $(since "$t2")"
have_all "$tmp" || { log "build produced no binaries?"; exit 1; }
echo "kubernetes $K8S_VERSION, built $(date -u +%FT%TZ) with $(go env GOVERSION)" >"$tmp/VERSION"

mkdir -p "$cache_root/$hash"
rm -rf "$bin"
mv "$tmp" "$bin"
trap - EXIT

# Keep the two most recent builds only.
ls -1dt "$cache_root"/*/ 2>/dev/null | tail -n +3 | while read -r old; do rm -rf "$old"; done

log "done in $(since "$t0")"
echo "$bin"
