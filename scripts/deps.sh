#!/usr/bin/env bash
# Installs what dividere needs on a Debian machine, only when it is missing.
#   scripts/deps.sh build   nothing: dividere's engine is pure Go (kept so that the targets
#                           that build say what they need in one place)
#   scripts/deps.sh test    libzmq (libzmq3-dev) and pkg-config (the opt-in libzmq engine's
#                           tests, -tags libzmq, and the bench module's raw libzmq peer),
#                           python3-zmq, python3-protobuf and protoc (interop tests,
#                           which compile the original Python dividere's schema), and zsh
#                           and fish (the CLI's completion scripts are loaded in each shell), and
#                           chromium (the name service's status page is tested in a headless browser),
#                           and, when npm is there, Node's zeromq into interop/zmqpeer (the pure-Go
#                           engine's conformance tests run against it; it bundles a prebuilt libzmq),
#                           and the Node.js client's zeromq and protobufjs into clients/node (npm ci)
#   scripts/deps.sh proto   protobuf-compiler (protoc)
set -euo pipefail

want=()
npm_peer=""
peer_dir="$(cd "$(dirname "$0")/.." && pwd)/interop/zmqpeer"
npm_node=""
node_dir="$(cd "$(dirname "$0")/.." && pwd)/clients/node"
need_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed" || want+=("$1"); }

case "${1:-build}" in
  build) ;;
  test)
    need_pkg pkg-config
    pkg-config --exists libzmq 2>/dev/null || need_pkg libzmq3-dev
    /usr/bin/python3 -c 'import zmq' 2>/dev/null || need_pkg python3-zmq
    /usr/bin/python3 -c 'import google.protobuf' 2>/dev/null || need_pkg python3-protobuf
    command -v protoc >/dev/null || need_pkg protobuf-compiler
    command -v zsh >/dev/null || need_pkg zsh
    command -v fish >/dev/null || need_pkg fish
    command -v chromium >/dev/null || need_pkg chromium
    if [ ! -d "$peer_dir/node_modules/zeromq" ] && command -v npm >/dev/null; then npm_peer=1; fi
    if { [ ! -d "$node_dir/node_modules/zeromq" ] || [ ! -d "$node_dir/node_modules/protobufjs" ]; } && command -v npm >/dev/null; then npm_node=1; fi
    ;;
  proto) command -v protoc >/dev/null || need_pkg protobuf-compiler ;;
  *) echo "usage: $0 build|test|proto" >&2; exit 2 ;;
esac

if [ ${#want[@]} -gt 0 ]; then
  echo "installing: ${want[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -qq "${want[@]}" >/dev/null 2>&1 || {
    $sudo apt-get update -qq >/dev/null
    $sudo apt-get install -y -qq "${want[@]}" >/dev/null
  }
fi
if [ -n "$npm_peer" ]; then
  echo "installing: zeromq (npm) into interop/zmqpeer" >&2
  npm install --prefix "$peer_dir" --no-audit --no-fund --silent >/dev/null
fi
if [ -n "$npm_node" ]; then
  echo "installing: zeromq and protobufjs (npm) into clients/node" >&2
  npm ci --prefix "$node_dir" --no-audit --no-fund --silent >/dev/null
fi
