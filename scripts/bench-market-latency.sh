#!/usr/bin/env bash
# The marketplace path's end-to-end latency over a direct chat (docs/BENCHMARKS.md): a
# `veil up --llm --market` stack, a token with one short document for the direct chat,
# then scripts/bench-market-latency.mjs with the 0G compute SDK and OpenAI's npm client.
# Needs: scripts/models.sh and scripts/clients.sh run once.
# Usage: scripts/bench-market-latency.sh path/to/veil [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
veil=$(realpath "$1")
rounds="${2:-20}"
model="$HOME/.cache/veil/models/SmolLM2-135M-Instruct.Q8_0.gguf"
tmp=$(mktemp -d)
trap 'kill $up 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
"$veil" up --dir "$tmp/stack" --listen 127.0.0.1:0 --llm "$model" --market > "$tmp/up.out" 2>/dev/null &
up=$!
for _ in $(seq 600); do [ -s "$tmp/stack/up.json" ] && grep -q listening "$tmp/up.out" && break; sleep 0.2; done
field() { node -e 'const j=JSON.parse(require("fs").readFileSync(process.argv[1]));console.log(process.argv[2].split(".").reduce((o,k)=>o[k],j))' "$tmp/stack/up.json" "$1"; }
gateway=$(sed -n 's/^listening on //p' "$tmp/up.out")
chain=(--rpc "$(field rpc)" --deployment "$(field deployment)" --key "$tmp/stack/chain/operator.key")
user=$("$veil" chain keygen --out "$tmp/user.key")
"$veil" chain "${chain[@]}" fund --to "$user" --eth 20 > /dev/null
mkdir "$tmp/docs" && echo "Colours: red, green and blue are primary colours of light." > "$tmp/docs/colours.md"
"$veil" nft "${chain[@]}" mint > /dev/null
"$veil" nft "${chain[@]}" publish 1 --docs "$tmp/docs" --kms "$(field kms)" --store "$tmp/stack/store" > /dev/null
"$veil" nft "${chain[@]}" authorize 1 "$user" > /dev/null
grant=$("$veil" grant --gateway "$gateway" --key "$tmp/user.key" --token 1 --max-tokens 64 --ttl 3600)
node scripts/bench-market-latency.mjs "$gateway" "$grant" "$(field rpc)" "$(field market.ledger)" \
  "$(field market.serving)" "$(field market.provider)" "$(cat "$tmp/user.key")" "$rounds"
