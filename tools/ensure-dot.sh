#!/usr/bin/env bash
# Make sure Graphviz's `dot` binary is on PATH, installing it with apt-get
# when it is missing and apt is there; otherwise say how to install it.
set -euo pipefail
if command -v dot >/dev/null 2>&1; then
  exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    SUDO=""
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    SUDO=none
  fi
  if [ "$SUDO" != none ]; then
    echo "Graphviz's dot is missing: installing it with apt-get (package graphviz)..."
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq graphviz >/dev/null
    command -v dot >/dev/null 2>&1 && exit 0
  fi
fi
cat >&2 <<'MSG'
error: Graphviz's `dot` program is not installed, and it could not be installed here.
Install it, then run this command again:
  Debian/Ubuntu:  sudo apt-get install graphviz
  Fedora:         sudo dnf install graphviz
  macOS:          brew install graphviz
  Windows:        winget install graphviz   (or https://graphviz.org/download/)
MSG
exit 1
