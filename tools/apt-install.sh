#!/usr/bin/env bash
# apt-install.sh PACKAGE WHAT: install a Debian/Ubuntu package with apt-get,
# as root or through passwordless sudo. Exits 1, quietly, where that is not
# possible (no apt-get, no rights): the caller then says how to install WHAT.
set -euo pipefail
package=$1
what=$2
command -v apt-get >/dev/null 2>&1 || exit 1
if [ "$(id -u)" = 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO="sudo -n"
else
  exit 1
fi
echo "$what is missing: installing it with apt-get (package $package)..."
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$package" >/dev/null
