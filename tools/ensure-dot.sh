#!/usr/bin/env bash
# Make sure Graphviz's `dot` binary is on PATH, installing it with apt-get
# when it is missing and apt is there; otherwise say how to install it.
set -euo pipefail
if command -v dot >/dev/null 2>&1; then
  exit 0
fi
if bash "$(dirname "$0")/apt-install.sh" graphviz "Graphviz's dot" && command -v dot >/dev/null 2>&1; then
  exit 0
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
