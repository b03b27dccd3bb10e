#!/usr/bin/env bash
# Installs what dividere needs on a Debian machine, only when it is missing.
#   scripts/deps.sh build   libzmq (libzmq3-dev) and pkg-config, for cgo
#   scripts/deps.sh test    build + python3-zmq, python3-protobuf and protoc (interop tests,
#                           which compile the original Python dividere's schema), and zsh
#                           and fish (the CLI's completion scripts are loaded in each shell), and
#                           chromium (the name service's status page is tested in a headless browser)
#   scripts/deps.sh proto   build + protobuf-compiler (protoc)
set -euo pipefail

want=()
need_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed" || want+=("$1"); }

need_pkg pkg-config
pkg-config --exists libzmq 2>/dev/null || need_pkg libzmq3-dev
case "${1:-build}" in
  build) ;;
  test)
    /usr/bin/python3 -c 'import zmq' 2>/dev/null || need_pkg python3-zmq
    /usr/bin/python3 -c 'import google.protobuf' 2>/dev/null || need_pkg python3-protobuf
    command -v protoc >/dev/null || need_pkg protobuf-compiler
    command -v zsh >/dev/null || need_pkg zsh
    command -v fish >/dev/null || need_pkg fish
    command -v chromium >/dev/null || need_pkg chromium
    ;;
  proto) command -v protoc >/dev/null || need_pkg protobuf-compiler ;;
  *) echo "usage: $0 build|test|proto" >&2; exit 2 ;;
esac

[ ${#want[@]} -eq 0 ] && exit 0
echo "installing: ${want[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get install -y -qq "${want[@]}" >/dev/null 2>&1 || {
  $sudo apt-get update -qq >/dev/null
  $sudo apt-get install -y -qq "${want[@]}" >/dev/null
}
