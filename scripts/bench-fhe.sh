#!/usr/bin/env bash
# FHE side by side, in one run on this machine (docs/BENCHMARKS.md): Veil's BFV
# evaluation of the breast-cancer logistic regression (`veil bench fhe`: the float and
# int8 models in the clear beside FHE on the whole held-out split) and Concrete ML
# (Zama; PyPI concrete-ml, pinned, in ~/.cache/veil/bench-cml) on the same training and
# held-out rows, row by row through its client/server deployment API.
#
# Usage: scripts/bench-fhe.sh [VEIL_BINARY] [RUNS]   (default: cargo build --release -p veil)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/veil/target}"
veil="${1:-}"
runs="${2:-5}"
if [ -z "$veil" ]; then
  cargo build --quiet --release -p veil
  veil="$CARGO_TARGET_DIR/release/veil"
fi
venv="$HOME/.cache/veil/bench-cml"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import concrete.ml" 2>/dev/null; then
  echo "installing Concrete ML (concrete-ml 1.9.0 from PyPI; once)" >&2
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "concrete-ml==1.9.0"
fi
echo "## machine"
echo "$(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo
echo "## Veil (BFV, fhe.rs)"
"$veil" bench fhe --model breast-cancer-logreg --runs "$runs"
echo "## Concrete ML (TFHE), 8-bit quantisation"
"$venv/bin/python" scripts/bench/concrete_lr.py models/data/breast_cancer.csv 8 2>/dev/null | tail -1
