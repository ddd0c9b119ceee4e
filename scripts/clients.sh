#!/usr/bin/env bash
# The stock protocol clients the tests drive Veil with, unchanged, from PyPI (pinned
# in scripts/clients.txt): OpenAI's, Ollama's and Triton's (KServe v2) Python clients,
# and onnxruntime as an independent reference; and from npm the 0G compute SDK. Installed once into
# a virtual environment at ~/.cache/veil/py (the tests run ~/.cache/veil/py/bin/python),
# reinstalled when the pins change.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$HOME/.cache/veil/py"
stamp="$venv/.pins"
if ! { [ -f "$stamp" ] && cmp -s "$stamp" "$here/clients.txt"; }; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/clients.txt"
  cp "$here/clients.txt" "$stamp"
fi

# The 0G compute SDK and OpenAI's npm client (pinned in
# crates/veil/tests/clients/market/package-lock.json), reinstalled when the lock changes.
market="$here/../crates/veil/tests/clients/market"
if ! cmp -s "$market/package-lock.json" "$market/node_modules/.veil-lock" 2>/dev/null; then
  (cd "$market" && npm ci --no-audit --no-fund --loglevel=error && cp package-lock.json node_modules/.veil-lock)
fi
