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

# Two cache keys: the Kubernetes binaries change only with go.mod/go.sum and the Go toolchain, the
# launcher with every Go source here. Changing the simulator then relinks only the launcher.
k8s_hash=$(
  {
    echo "$K8S_VERSION"
    go env GOVERSION GOOS GOARCH
    cat go.mod go.sum
    sed -n '/^# --- k8s build ---$/,/^# --- end k8s build ---$/p' build.sh
  } | sha256sum | cut -c1-16
)
hash=$(
  {
    echo "$k8s_hash"
    cat build.sh
    find . -name '*.go' -not -path './.*' | LC_ALL=C sort | while read -r f; do echo "$f"; cat "$f"; done
  } | sha256sum | cut -c1-16
)
cache_root="${PEERDB_UPGRADE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/peerdb-upgrade}/cluster"
bin="$cache_root/$hash/bin"
k8s_bin="$cache_root/k8s-$k8s_hash"
bins=(kube-apiserver kube-controller-manager launcher)

have_all() { for b in "${bins[@]}"; do [[ -x "$1/$b" ]] || return 1; done; }

if [[ "${CLUSTER_BUILD_FORCE:-}" != 1 ]] && have_all "$bin"; then
  touch "$cache_root/$hash" "$k8s_bin" 2>/dev/null || true   # in use: keep it from pruning
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

t1=$(now)
GOFLAGS="${GOFLAGS:-} -mod=readonly" nice -n 10 go mod download
log "modules ready in $(since "$t1")"
# One build at a time per key: a second work tree waits for the first instead of compiling the same
# packages again beside it (two go builds of kube-apiserver on 2 cores take longer than one, twice).
# (Outside the hashed section below, so the lock does not re-key the cache.)
exec 9>"$cache_root/.lock-k8s-$k8s_hash"
flock 9
# --- k8s build ---
if [[ "${CLUSTER_BUILD_FORCE:-}" == 1 || ! -x "$k8s_bin/kube-apiserver" || ! -x "$k8s_bin/kube-controller-manager" ]]; then
  log "building kube-apiserver, kube-controller-manager ($K8S_VERSION) into $k8s_bin"
  log "(a cold build downloads ~1 GB of modules and takes several minutes on 2 cores)"
  t2=$(now)
  ktmp=$(mktemp -d "$cache_root/.k8s-XXXXXX")
  GOFLAGS="${GOFLAGS:-} -mod=readonly" nice -n 10 go build -trimpath -ldflags="$ldflags" -o "$ktmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager
  rm -rf "$k8s_bin"
  mv "$ktmp" "$k8s_bin"
  log "kubernetes binaries compiled in $(since "$t2")"
fi
# --- end k8s build ---
flock -u 9
t3=$(now)
GOFLAGS="${GOFLAGS:-} -mod=readonly" nice -n 10 go build -trimpath -ldflags="$ldflags" -o "$tmp/" ./cmd/launcher
log "launcher compiled in $(since "$t3")"
# Hard links when the cache is on one file system (it is), a copy otherwise.
for b in kube-apiserver kube-controller-manager; do ln "$k8s_bin/$b" "$tmp/$b" 2>/dev/null || cp "$k8s_bin/$b" "$tmp/$b"; done
have_all "$tmp" || { log "build produced no binaries?"; exit 1; }
echo "kubernetes $K8S_VERSION, built $(date -u +%FT%TZ) with $(go env GOVERSION)" >"$tmp/VERSION"

mkdir -p "$cache_root/$hash"
rm -rf "$bin"
mv "$tmp" "$bin"
trap - EXIT

# Prune old builds, but never one used in the last day: several work trees (or a CI run beside a
# session) may build side by side, each with a running control plane on its binaries.
find "$cache_root" -mindepth 1 -maxdepth 1 -type d -not -name '.*' -mtime +1 -exec rm -rf {} + 2>/dev/null || true

log "done in $(since "$t0")"
echo "$bin"
