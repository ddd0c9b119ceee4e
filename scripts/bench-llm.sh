#!/usr/bin/env bash
# The language model side by side, in one run on this machine (docs/BENCHMARKS.md):
# the same GGUF (the bundled SmolLM2-135M, Q8_0), the same prompt, greedy decoding,
# 128 new tokens, at 1 and 2 threads, in (b) bare candle (`veil bench llm`) and
# (c) llama.cpp (llama-cpp-python, built from source by pip and cached in
# ~/.cache/veil/bench-py); then (a) Veil's attested path: `veil up --llm`, a token's
# documents (enough for a ~2,000-token retrieved context), an access grant, and the
# stock OpenAI client streaming through the gateway, 1 stream and 8 at once.
#
# Usage: scripts/bench-llm.sh [VEIL_BINARY]   (default: cargo build -p veil)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/veil/target}"
veil="${1:-}"
if [ -z "$veil" ]; then
  cargo build --quiet -p veil
  veil="$CARGO_TARGET_DIR/debug/veil"
fi
scripts/models.sh "$veil"
scripts/clients.sh
model="$HOME/.cache/veil/models/SmolLM2-135M-Instruct.Q8_0.gguf"
name="SmolLM2-135M-Instruct.Q8_0"
tokens=128
prompt="The history of the printing press begins"

# Two llama.cpp builds: for this machine's CPU (GGML_NATIVE: AVX-512 where it has it),
# and for x86-64-v3 (AVX2, FMA, F16C), the instruction set Veil is built for, so the
# engines are also compared on equal hardware features.
llama_venv() {
  local venv="$1" cmake_args="$2"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import llama_cpp" 2>/dev/null; then
    echo "building llama.cpp (llama-cpp-python 0.3.16 from source, $cmake_args; once)" >&2
    python3 -m venv "$venv"
    CMAKE_ARGS="$cmake_args" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" "$venv/bin/python" -m pip install \
      --no-cache-dir --quiet --disable-pip-version-check "llama-cpp-python==0.3.16"
  fi
}
native="$HOME/.cache/veil/bench-py"
v3="$HOME/.cache/veil/bench-py-v3"
llama_venv "$native" "-DGGML_NATIVE=ON"
llama_venv "$v3" "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_BMI2=ON"
long="$(python3 -c "print(' '.join('The Kestrel Valley estate harvested lot %d in week %d and dried it for %d hours.' % (i, i % 52, i % 9) for i in range(40)))")"

echo "## machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
for threads in 1 2; do
  for p in short long; do
    text="$prompt"; n=$tokens
    if [ $p = long ]; then text="$long"; n=32; fi
    tag="{\"threads\": $threads, \"prompt\": \"$p\", "
    RAYON_NUM_THREADS=$threads "$veil" bench llm "$model" --tokens $n --runs 3 --prompt "$text" | sed "s/^{/$tag/"
    "$native/bin/python" scripts/bench/llamacpp_decode.py "$model" $threads $n 3 "$text" 2>/dev/null \
      | sed "s/^{/$tag\"build\": \"native\", /"
    "$v3/bin/python" scripts/bench/llamacpp_decode.py "$model" $threads $n 3 "$text" 2>/dev/null \
      | sed "s/^{/$tag\"build\": \"x86-64-v3\", /"
  done
done

# The attested path through the gateway.
work="$(mktemp -d)"
trap 'kill $up_pid 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/docs"
for i in $(seq 1 60); do
  printf '## Estate note %d\n\nThe Kestrel Valley estate harvested lot %d in week %d. Its green tea is steeped at 80 degrees for 150 seconds; lot %d was rolled by hand, dried for %d hours and packed in cedar boxes for the winter market.\n\n' \
    "$i" "$i" "$((i % 52 + 1))" "$i" "$((i % 9 + 3))" >> "$work/docs/estate-$((i % 6)).md"
done
RAYON_NUM_THREADS=2 "$veil" up --dir "$work/stack" --listen 127.0.0.1:0 --llm "$model" > "$work/up.log" 2>/dev/null &
up_pid=$!
for _ in $(seq 1 600); do
  grep -q '^listening on' "$work/up.log" 2>/dev/null && break
  sleep 0.1
done
gateway="$(sed -n 's/^listening on //p' "$work/up.log")"
kms="$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['kms'])" "$work/stack/up.json")"
rpc="$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['rpc'])" "$work/stack/up.json")"
ledger=(--rpc "$rpc" --deployment "$work/stack/chain/deployment.json" --key "$work/stack/chain/operator.key")
token="$("$veil" nft "${ledger[@]}" mint)"
"$veil" nft "${ledger[@]}" publish "$token" --docs "$work/docs" --kms "$kms" --store "$work/stack/store" >&2
user="$("$veil" chain keygen --out "$work/user.key")"
"$veil" nft "${ledger[@]}" authorize "$token" "$user" >&2
key="$("$veil" grant --gateway "$gateway" --key "$work/user.key" --token "$token" --max-tokens $tokens --ttl 3600)"
question="How long is the Kestrel Valley green tea steeped, and how was lot 17 dried and packed?"
for streams in 1 8; do
  "$HOME/.cache/veil/py/bin/python" scripts/bench/gateway_streams.py "$gateway" "$key" "$name" $streams $tokens "$question" \
    | sed "s/^{/{\"threads\": 2, /"
done
