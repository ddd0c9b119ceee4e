#!/usr/bin/env bash
# Provider-side verification cost per marketplace request (docs/BENCHMARKS.md): Veil's
# Rust (criterion, crates/veil-protocol/benches/market.rs) and ethers (the SDK's own
# library) checking the same SDK key in the same run.
# Needs: scripts/clients.sh run once (ethers from the SDK's pinned packages).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
out=$(cargo bench --locked -p veil-protocol --bench market -- --noplot 2>&1)
echo "$out" | grep -E "^market/|time:"
key=$(echo "$out" | sed -n 's/^key //p' | head -1)
ns=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).median.point_estimate)' \
  "$target/criterion/market_key_verify/new/estimates.json")
node scripts/bench-market-verify.mjs "$key" "$ns"
