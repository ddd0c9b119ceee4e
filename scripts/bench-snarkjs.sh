#!/usr/bin/env bash
# Side-by-side Groth16 proving on this machine: Veil's prover against snarkjs on the
# same income-threshold statement (256 slots), the circuit written in circom
# (zk/circuits/income.circom, compiled with circom2 --O2). One hyperfine run times
# both as whole commands (each reads its key, computes the witness and proves), and
# /usr/bin/time gives each one's peak memory. Not part of the test suite: it builds
# a 2^15 powers of tau (a few minutes), cached in ~/.cache/veil/zk.
#
#   scripts/bench-snarkjs.sh [path/to/veil]   (default: target/release/veil)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
veil="${1:-${CARGO_TARGET_DIR:-$HOME/.cache/veil/target}/release/veil}"
[ -x "$veil" ] || { echo "build it first: cargo build --release -p veil" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)" >&2; exit 1; }
scripts/zk.sh
snarkjs="$root/zk/node_modules/.bin/snarkjs"
cache="$HOME/.cache/veil/zk"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$cache"

echo "== circom2 --O2 (the same circuit in circom)"
(cd zk && npx --no-install circom2 circuits/income.circom --r1cs --wasm --O2 -o "$work") | grep -E "constraints|wires"

if [ ! -f "$cache/pot15.ptau" ]; then
  echo "== powers of tau 2^15 (once)"
  "$snarkjs" powersoftau new bn128 15 "$work/pot0.ptau" >/dev/null
  "$snarkjs" powersoftau contribute "$work/pot0.ptau" "$work/pot1.ptau" --name=bench -e="veil bench $(date +%s%N)" >/dev/null
  "$snarkjs" powersoftau prepare phase2 "$work/pot1.ptau" "$cache/pot15.ptau.tmp" >/dev/null
  mv "$cache/pot15.ptau.tmp" "$cache/pot15.ptau"
fi

echo "== keys (snarkjs groth16 setup; veil zk setup)"
"$snarkjs" groth16 setup "$work/income.r1cs" "$cache/pot15.ptau" "$work/income.zkey" >/dev/null
"$veil" zk setup --slots 256 --out "$work/veil"

# The statement `veil bench zk` proves: 256 payments of 1000 + i, threshold 256,000.
amounts="$(seq 0 255 | awk '{ printf "%s%d", (NR > 1 ? "," : ""), 1000 + $1 }')"
cat > "$work/statement.json" <<EOF
{"account": "0xa11ce", "epoch": 202611, "amounts": [$amounts], "salt": "7", "threshold": "256000", "slots": 256}
EOF
h="$(echo "{\"income\": [{\"account\": \"$((0xa11ce))\", \"epoch\": \"202611\", \"amounts\": [$amounts], \"salt\": \"7\", \"slots\": 256}]}" \
  | node zk/poseidon.mjs | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).income[0]))')"
cat > "$work/input.json" <<EOF
{"H": "$h", "T": "256000", "count": "256", "account": "$((0xa11ce))", "epoch": "202611",
 "amounts": [$amounts], "salt": "7"}
EOF

veil_prove="$veil prove income-threshold --pk $work/veil/income-256.pk --statement $work/statement.json --out $work/veil-proof"
snark_prove="node $work/income_js/generate_witness.js $work/income_js/income.wasm $work/input.json $work/w.wtns && $snarkjs groth16 prove $work/income.zkey $work/w.wtns $work/proof.json $work/public.json"

echo "== the two public inputs agree"
$veil_prove >/dev/null
bash -c "$snark_prove"
diff <(tr -d ' \n' < "$work/veil-proof/public.json") <(tr -d ' \n' < "$work/public.json") && echo "same [H, T, count]"
"$snarkjs" zkey export verificationkey "$work/income.zkey" "$work/vk.json" >/dev/null
"$snarkjs" groth16 verify "$work/vk.json" "$work/public.json" "$work/proof.json" | grep -q OK && echo "snarkjs's own proof verifies"
"$veil" zk verify --vk "$work/veil/income-256.vk.json" --public "$work/veil-proof/public.json" --proof "$work/veil-proof/proof.json"

echo "== peak memory (witness and proof, one run each)"
/usr/bin/time -f "veil prove: %M KB, %e s" $veil_prove >/dev/null
/usr/bin/time -f "snarkjs wtns calculate: %M KB, %e s" node "$work/income_js/generate_witness.js" "$work/income_js/income.wasm" "$work/input.json" "$work/w.wtns"
/usr/bin/time -f "snarkjs groth16 prove: %M KB, %e s" "$snarkjs" groth16 prove "$work/income.zkey" "$work/w.wtns" "$work/proof.json" "$work/public.json"

echo "== hyperfine (same run, same machine)"
hyperfine --warmup 1 --runs "${RUNS:-5}" \
  --command-name "veil prove income-threshold" "$veil_prove" \
  --command-name "snarkjs (witness + groth16 prove)" "$snark_prove"
