#!/usr/bin/env bash
# Secure aggregation, Veil beside Flower's SecAgg+ in one run at the same size:
#   scripts/bench-secagg.sh [VEIL_BINARY] [CLIENTS] [DIM] [DROPOUT]
# Flower (flwr, pinned below) is installed once into ~/.cache/veil/flwr.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
veil="${1:-$here/../target/release/veil}"
clients="${2:-100}"; dim="${3:-100000}"; dropout="${4:-0.1}"
pin="flwr==1.42.0"
python="$("$here/flower-venv.sh" "$HOME/.cache/veil/flwr" "$pin")"
echo "== Veil (veil bench secagg)"
"$veil" bench secagg --clients "$clients" --dim "$dim" --dropout "$dropout"
echo "== Flower $pin (its SecAgg+ client stages and server unmask, same sizes)"
"$python" "$here/bench-secagg.py" "$clients" "$dim" "$dropout"
