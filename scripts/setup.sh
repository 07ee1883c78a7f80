#!/usr/bin/env bash
# Set up a fresh machine from the project's own files.
#   bash scripts/setup.sh        runtime: Python packages (+ bubblewrap for the code sandbox)
#   bash scripts/setup.sh --dev  also test tools and headless Chromium for the browser tests
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[ "${1:-}" = "--dev" ] && dev=1

apt_packages=(bubblewrap)
[ "$dev" = 1 ] && apt_packages+=(chromium)
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "note: not root, skipping apt packages: ${missing[*]} (sandbox falls back to rlimits;" \
         "browser tests are skipped)" >&2
  fi
fi

req=requirements.txt
[ "$dev" = 1 ] && req=requirements-dev.txt
python3 -m pip install -q --disable-pip-version-check -r "$req"
