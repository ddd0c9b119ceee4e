#!/usr/bin/env bash
# The reference zk tools from npm (pinned in zk/package-lock.json): snarkjs and
# circomlibjs, which the veil-zk tests check Veil's proofs, hashes and ceremony keys
# against, and circom2 with circomlib for scripts/bench-snarkjs.sh.
set -euo pipefail
cd "$(dirname "$0")/../zk"
npm ci --no-audit --no-fund --loglevel=error
