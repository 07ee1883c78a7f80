#!/usr/bin/env bash
# Set up a machine from the project's own files.
#   bash scripts/setup.sh        runtime: Python packages (+ bubblewrap for the code sandbox)
#   bash scripts/setup.sh --dev  also test tools and headless Chromium for the browser tests
#
# Python packages go into the environment `python3` names: the activated virtualenv (or
# conda environment) if there is one, else the system's Python. Pins come from
# requirements*.txt, every other version from constraints.txt. A Debian/Ubuntu system
# Python refuses pip installs (PEP 668): then this script says how to make a venv.
# As root, the apt packages are installed too; otherwise they are listed.
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[ "${1:-}" = "--dev" ] && dev=1
python="${PYTHON:-python3}"

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

# Where will pip install? A venv/conda environment is always fine; a system Python marked
# externally managed (PEP 668) is not ours to change.
where=$("$python" - <<'PY'
import os, sys, sysconfig
venv = sys.prefix != sys.base_prefix or os.environ.get("CONDA_PREFIX") == sys.prefix
marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
print("venv" if venv else ("managed" if os.path.exists(marker) else "system"))
PY
)
if [ "$where" = managed ]; then
  cat >&2 <<EOF
error: $("$python" -c 'import sys; print(sys.executable)') is the system's Python, which pip may
not change (PEP 668). Make a virtualenv for the toolkit and run this script inside it:
  $python -m venv .venv && . .venv/bin/activate && bash scripts/setup.sh${1:+ $1}
EOF
  exit 1
fi

req=requirements.txt
[ "$dev" = 1 ] && req=requirements-dev.txt
"$python" -m pip install -q --disable-pip-version-check -r "$req" -c constraints.txt
echo "python packages installed into $("$python" -c 'import sys; print(sys.prefix)') ($where)"
