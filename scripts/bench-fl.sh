#!/usr/bin/env bash
# A federated logistic regression, Veil beside Flower's simulation engine in one run:
# the same data, non-IID split, model, local epochs and rounds.
#   scripts/bench-fl.sh [VEIL_BINARY] [CLIENTS] [ROUNDS] [EPOCHS]
# Flower (flwr[simulation], pinned below) is installed once into ~/.cache/veil/flwr-sim.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
veil="${1:-$here/../target/release/veil}"
clients="${2:-5}"; rounds="${3:-20}"; epochs="${4:-5}"; lr=2.0; l2=0.0001
pin="flwr[simulation]==1.42.0"
python="$("$here/flower-venv.sh" "$HOME/.cache/veil/flwr-sim" "$pin")"
echo "== Veil (veil bench fl: signed messages and secure aggregation, in one process)"
"$veil" bench fl --clients "$clients" --rounds "$rounds" --epochs "$epochs" --learning-rate "$lr" --l2 "$l2"
echo "== Flower $pin (run_simulation, FedAvg, no secure aggregation)"
"$python" "$here/bench-fl.py" "$here/../models/data/breast_cancer.csv" "$clients" "$rounds" "$epochs" "$lr" "$l2" 2>/dev/null
