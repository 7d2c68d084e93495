#!/usr/bin/env bash
# Installs peerdb-upgrade the way a user does and runs it from there (called by .ci/run):
# `npm pack` (its `prepare` script builds dist/ from a tree without one), `npm install --global` of
# the tarball into a temporary prefix, from a directory outside the repository, then --version, an
# offline plan and `kubectl peerdb-upgrade --help` from that install, and the same from the single
# executable when one is given ($1). Prints the tarball's files and size, the number of packages the
# install pulled and how long each command took. Removes what it made.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
binary="${1:+$(cd "$(dirname "$1")" && pwd)/$(basename "$1")}"
work="$(mktemp -d "${TMPDIR:-/tmp}/peerdb-upgrade-install-XXXXXX")"
trap 'rm -rf "$work"' EXIT
ms() { echo $(( $(date +%s%N) / 1000000 )); }
# Runs a command, prints its first output line and its time; fails when the command fails or $1 is
# not in its output.
check() {
  local expect="$1"; shift
  local start out
  start=$(ms)
  if ! out="$("$@" 2>&1)"; then printf '%s\n' "$out" >&2; echo "FAILED: $*" >&2; return 1; fi
  printf -- '-- %-60s %5s ms  %s\n' "$*" "$(( $(ms) - start ))" "$(printf '%s\n' "$out" | head -n1)"
  if ! grep -qF -- "$expect" <<<"$out"; then printf '%s\n' "$out" >&2; echo "FAILED: '$expect' not in the output of: $*" >&2; return 1; fi
}

echo "pack (from a tree without dist/: prepare must build it)"
rm -rf "$repo/dist"
(cd "$repo" && npm pack --silent --pack-destination "$work" >/dev/null)
tarball="$(ls "$work"/peerdb-upgrade-*.tgz)"
files="$(tar -tzf "$tarball" | sed 's|^package/||' | sort)"
sed 's/^/   /' <<<"$files"
echo "tarball: $(basename "$tarball"), $(stat -c %s "$tarball") bytes, $(wc -l <<<"$files") files, $(tar -xzOf "$tarball" | wc -c) bytes unpacked"
grep -qx 'dist/cli.cjs' <<<"$files" || { echo 'FAILED: the tarball has no dist/cli.cjs' >&2; exit 1; }
if grep -q '\.map$' <<<"$files"; then echo 'FAILED: the tarball ships source maps' >&2; exit 1; fi

echo "install the tarball into a temporary prefix, from outside the repository"
mkdir -p "$work/outside" "$work/prefix"
cd "$work/outside"
start=$(ms)
npm install --global --prefix "$work/prefix" --no-audit --no-fund --loglevel=error "$tarball"
installed="$(find "$work/prefix/lib/node_modules" -name package.json -not -path '*/plans/*' -not -path '*/peerdb-upgrade/bin/package.json' | wc -l)"  # bin/package.json only marks bin/ CommonJS
echo "installed in $(( $(ms) - start )) ms: $installed package(s) ($(du -sk "$work/prefix" | cut -f1) KiB)"
[ "$installed" -eq 1 ] || { echo "FAILED: the install pulled $((installed - 1)) other packages" >&2; exit 1; }

export PATH="$work/prefix/bin:$PATH"
cp "$work/prefix/lib/node_modules/peerdb-upgrade/plans/helm-default.yaml" .
version="$(node -p "require('$repo/package.json').version")"
[ "$(command -v peerdb-upgrade)" = "$work/prefix/bin/peerdb-upgrade" ] || { echo 'FAILED: peerdb-upgrade is not on PATH from the install' >&2; exit 1; }
check "$version" peerdb-upgrade --version
check 'offline plan)' peerdb-upgrade plan -f helm-default.yaml --offline --from v0.36.7
if command -v kubectl >/dev/null; then
  check 'Usage: kubectl peerdb-upgrade' kubectl peerdb-upgrade --help
  check 'offline plan)' kubectl peerdb-upgrade plan -f helm-default.yaml --offline --from v0.36.7
else
  echo "(no kubectl on PATH: running the plugin's executable directly)"
  check 'Usage: kubectl peerdb-upgrade' kubectl-peerdb_upgrade --help
fi

if [ -n "$binary" ]; then
  echo "single executable: $binary ($(stat -c %s "$binary") bytes)"
  check "$version" "$binary" --version
  check 'offline plan)' "$binary" plan -f helm-default.yaml --offline --from v0.36.7
  # The binary starts from a V8 startup snapshot made at build time (scripts/build-binary.mjs): what
  # the environment and the terminal say must be read when it runs, not when it was built.
  check '::group::plan steps' env GITHUB_ACTIONS=true GITHUB_STEP_SUMMARY="$work/summary.md" "$binary" plan -f helm-default.yaml --offline --from v0.36.7
  [ -s "$work/summary.md" ] || { echo 'FAILED: the binary wrote no job summary with GITHUB_ACTIONS=true' >&2; exit 1; }
  if env -u GITHUB_ACTIONS -u GITLAB_CI -u FORCE_COLOR "$binary" plan -f helm-default.yaml --offline --from v0.36.7 | grep -q -e '::group::' -e $'\e\['; then
    echo 'FAILED: the binary printed CI markers or colour without a CI or a terminal' >&2; exit 1
  fi
  if command -v script >/dev/null; then
    check $'\e[1mPlan:' script -qec "env -u NO_COLOR '$binary' plan -f helm-default.yaml --offline --from v0.36.7" /dev/null
  else
    echo "(no script(1) on PATH: colour on a terminal not checked)"
  fi
  # As a kubectl plugin: the binary under the plugin's name, found on PATH before the npm install's.
  mkdir -p "$work/sea"
  ln -s "$binary" "$work/sea/kubectl-peerdb_upgrade"
  if command -v kubectl >/dev/null; then
    kubectl_finding_the_binary() { PATH="$work/sea:$PATH" kubectl "$@"; }
    check 'Usage: kubectl peerdb-upgrade' kubectl_finding_the_binary peerdb-upgrade --help
  else
    check 'Usage: kubectl peerdb-upgrade' "$work/sea/kubectl-peerdb_upgrade" --help
  fi
fi
echo "install check passed"
