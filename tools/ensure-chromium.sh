#!/usr/bin/env bash
# Make sure a Chromium browser is on PATH (the test that plays the HTML
# walkthrough runs it headless), installing Debian's `chromium` with apt-get
# when it is missing and apt is there; otherwise say how to install it.
set -euo pipefail
found() { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; }
if found; then
  exit 0
fi
if bash "$(dirname "$0")/apt-install.sh" chromium Chromium && found; then
  exit 0
fi
cat >&2 <<'MSG'
error: Chromium is not installed, and it could not be installed here.
The browser test of the HTML walkthrough needs it, as `chromium` or `chromium-browser` on PATH.
Install it, then run this command again:
  Debian:         sudo apt-get install chromium
  Ubuntu:         sudo snap install chromium
  Fedora:         sudo dnf install chromium
  macOS:          brew install --cask chromium, then link its binary onto PATH as `chromium`
MSG
exit 1
