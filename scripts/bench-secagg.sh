#!/usr/bin/env bash
# Secure aggregation, Veil beside Flower's SecAgg+ in one run at the same size:
#   scripts/bench-secagg.sh [VEIL_BINARY] [CLIENTS] [DIM] [DROPOUT]
# Flower (flwr, pinned below) is installed once into ~/.cache/veil/flwr.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
veil="${1:-$here/../target/release/veil}"
clients="${2:-100}"; dim="${3:-100000}"; dropout="${4:-0.1}"
venv="$HOME/.cache/veil/flwr"
pin="flwr==1.42.0"
if [ ! -f "$venv/.pin" ] || [ "$(cat "$venv/.pin")" != "$pin" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$pin"
  echo "$pin" > "$venv/.pin"
fi
echo "== Veil (veil bench secagg)"
"$veil" bench secagg --clients "$clients" --dim "$dim" --dropout "$dropout"
echo "== Flower $pin (its SecAgg+ client stages and server unmask, same sizes)"
"$venv/bin/python" "$here/bench-secagg.py" "$clients" "$dim" "$dropout"
