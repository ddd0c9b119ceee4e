#!/usr/bin/env bash
# Solidity: install the pinned toolchain from npm (solc-js, forge), fail if the
# committed artifacts drift from the sources, then run the contract unit and fuzz tests
# with forge compiling through solc-js (contracts/solc-shim.mjs).
set -euo pipefail
cd "$(dirname "$0")/../contracts"
npm ci --no-audit --no-fund --loglevel=error
node build.mjs --check
node_modules/.bin/forge test --use ./solc-shim.mjs
