#!/usr/bin/env bash
# The reference zk tools from npm (pinned in zk/package-lock.json): snarkjs and
# circomlibjs, which the veil-zk tests check Veil's proofs and hashes against.
set -euo pipefail
cd "$(dirname "$0")/../zk"
npm ci --no-audit --no-fund --loglevel=error
