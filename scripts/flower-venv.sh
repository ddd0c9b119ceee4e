#!/usr/bin/env bash
# Install pinned Flower into a virtualenv once (re-made when the pin changes); prints
# the virtualenv's python. Used by the benchmarks that run Flower beside Veil.
#   scripts/flower-venv.sh VENV_DIR PIP_REQUIREMENT
set -euo pipefail
venv="$1"; pin="$2"
if [ ! -f "$venv/.pin" ] || [ "$(cat "$venv/.pin")" != "$pin" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$pin" >&2
  echo "$pin" > "$venv/.pin"
fi
echo "$venv/bin/python"
