#!/usr/bin/env bash
# Solidity: install the pinned toolchain from npm (solc-js, forge), fail if the
# committed artifacts drift from the sources, then run the contract unit and fuzz tests
# with forge compiling through solc-js (contracts/solc-shim.mjs).
set -euo pipefail
cd "$(dirname "$0")/../contracts"
npm ci --no-audit --no-fund --loglevel=error
node build.mjs --check
# forge's cache is keyed by source content, so it is shared across clones (as cargo's
# target directory is): a warm run skips the 40 s solc-js compile of unchanged sources.
export FOUNDRY_CACHE_PATH="${FOUNDRY_CACHE_PATH:-$HOME/.cache/veil/forge/cache}"
export FOUNDRY_OUT="${FOUNDRY_OUT:-$HOME/.cache/veil/forge/out}"
node_modules/.bin/forge test --use ./solc-shim.mjs
