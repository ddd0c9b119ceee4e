#!/usr/bin/env bash
# Every test Veil has: formatting, lints, unit, property and integration tests
# (including a real S3-compatible server on loopback), then a short fuzzing pass.
# Installs what it needs (cargo-fuzz) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

# Builds are shared across clones so warm runs are fast.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/veil/target}"

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked

echo "== fuzz (brief)"
scripts/fuzz.sh 20
