#!/usr/bin/env bash
# The stock protocol clients the tests drive Veil with, unchanged, from PyPI (pinned
# in scripts/clients.txt): OpenAI's, Ollama's and Triton's (KServe v2) Python clients,
# and onnxruntime as an independent reference. Installed once into
# a virtual environment at ~/.cache/veil/py (the tests run ~/.cache/veil/py/bin/python),
# reinstalled when the pins change.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$HOME/.cache/veil/py"
stamp="$venv/.pins"
if [ -f "$stamp" ] && cmp -s "$stamp" "$here/clients.txt"; then
  exit 0
fi
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/clients.txt"
cp "$here/clients.txt" "$stamp"
