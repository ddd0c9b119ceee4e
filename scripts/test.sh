#!/usr/bin/env bash
# Every test Veil has: formatting, lints, unit, property and integration tests
# (including a real S3-compatible server on loopback), then a short fuzzing pass.
# Installs what it needs (cargo-fuzz, cargo-nextest when missing) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

# Builds are shared across clones so warm runs are fast.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/veil/target}"

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

log="$(mktemp)"
trap 'rm -f "$log"' EXIT

# First: it installs solc-js, forge and anvil from npm, which the ledger tests use.
echo "== contracts (solc-js artifacts, forge tests)"
scripts/contracts.sh 2>&1 | tee -a "$log"

echo "== zk reference tools (snarkjs, circomlibjs from npm)"
scripts/zk.sh

echo "== cargo test (nextest)"
# nextest runs the test binaries side by side; this machine kind ships it, and a
# machine without it installs it from crates.io (or, failing that, uses cargo test).
if ! command -v cargo-nextest >/dev/null 2>&1; then
  cargo install cargo-nextest --locked >/dev/null 2>&1 || true
fi
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --workspace --locked 2>&1 | tee -a "$log"
else
  cargo test --workspace --locked 2>&1 | tee -a "$log"
fi

echo "== fuzz (brief)"
scripts/fuzz.sh 20

# One closing line for the whole run: cargo test's and forge's per-suite lines, or
# nextest's summary.
awk '/^(test|Suite) result:|Summary \[.*tests run:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed[;,]?$/) p += $(i-1); if ($(i) ~ /^failed[;,]?$/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f; exit (p == 0 || f > 0) }' "$log"
