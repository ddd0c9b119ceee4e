#!/usr/bin/env bash
# Build every cargo-fuzz target and run each for SECONDS (default 60).
# Usage: scripts/fuzz.sh [--quick] [SECONDS] [TARGET...]
# --quick (the test suite's brief pass) builds unoptimised and without AddressSanitizer:
# a cold build takes a fraction of the time, and the pass still runs every target on
# its corpus and finds panics and failed assertions. Fuzz for real without it.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=(-O)
if [ "${1:-}" = "--quick" ]; then
  mode=(--dev -s none)
  shift
fi
secs="${1:-60}"
shift || true

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install cargo-fuzz --locked --version 0.13.2
fi

# Sanitizer flags need a nightly compiler: use the installed nightly if there is
# one, otherwise let the stable compiler accept them.
toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=(+nightly)
else
  export RUSTC_BOOTSTRAP=1
fi

# Sanitised builds must not mix with the normal ones.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/veil/target}-fuzz"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo "${toolchain[@]}" fuzz list)
fi
cargo "${toolchain[@]}" fuzz build "${mode[@]}"

# Seed the evidence fuzzer with real evidence, so it starts from deep inside the parsers.
fixtures=../shared/fixtures/tee
if [ -d "$fixtures" ]; then
  mkdir -p fuzz/corpus/attest_evidence
  cp "$fixtures"/intel/tdx_quote "$fixtures"/intel/sgx_quote "$fixtures"/amd/trustee-test-report.bin fuzz/corpus/attest_evidence/
fi
# Seed the document-set fuzzer with a valid set (text, Markdown and JSON lines).
mkdir -p fuzz/corpus/docs_decode
printf '%s' '{"documents":[{"name":"notes.md","text":"# Tea\n\nSteep green tea for two minutes."},{"name":"quotes.jsonl","text":"{\"author\":\"Seneca\",\"quote\":\"Luck is preparation.\"}\n"}],"format":"veil.docs/1"}' >fuzz/corpus/docs_decode/seed.json
# Seed the secure-aggregation fuzzer with a split unmask request and a stray update.
mkdir -p fuzz/corpus/secagg_round
printf '%s' '{"request":{"survivors":[1,2],"dropped":[2]},"masked":{"client":3,"vector":[1,2,3,4,5]}}' >fuzz/corpus/secagg_round/seed.json
# Seed the federated-round fuzzer with a stranger's message and a roster entry.
mkdir -p fuzz/corpus/fl_session
printf '%s' '{"messages":[{"federation":"fuzz-00","round":1,"stage":"advertise","body":{"client":3,"mask_key":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"enc_key":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]},"signature":"00"}]}' >fuzz/corpus/fl_session/seed.json
# Seed the GGUF fuzzer with the head of the bundled language model (scripts/models.sh
# installs it before the tests): metadata, tokenizer and template keys to start from.
gguf="$HOME/.cache/veil/models/SmolLM2-135M-Instruct.Q8_0.gguf"
if [ -f "$gguf" ]; then
  mkdir -p fuzz/corpus/gguf_load
  head -c 8192 "$gguf" >fuzz/corpus/gguf_load/smollm2-head.gguf
fi
# Two targets at a time (libFuzzer uses one core each): the pass takes half the time.
run_one() {
  local t=$1 log
  log="$(mktemp)"
  if ! cargo "${toolchain[@]}" fuzz run "${mode[@]}" "$t" -- -max_total_time="$secs" -max_len=8192 -rss_limit_mb=2048 >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "fuzz target $t failed; the crashing input is under fuzz/artifacts/$t" >&2
    rm -f "$log"
    return 1
  fi
  echo "-- fuzz $t for ${secs}s: $(grep -E '^Done' "$log")"
  rm -f "$log"
}
pids=()
failed=0
for t in "${targets[@]}"; do
  run_one "$t" &
  pids+=("$!")
  if [ ${#pids[@]} -ge 2 ]; then
    wait "${pids[0]}" || failed=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do
  wait "$p" || failed=1
done
exit "$failed"
