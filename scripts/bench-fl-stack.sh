#!/usr/bin/env bash
# Federated rounds across processes, as deployed: `veil up` (one attested worker
# aggregating), N `veil fl join` client processes and `veil fl run` as the owner, every
# model sealed to the federation's key and the enclave's, every round's receipt checked
# by the owner and each client. Prints the owner's last line and the wall time of the
# whole run (rounds only: the stack is up and the clients waiting before the clock starts).
#
#   scripts/bench-fl-stack.sh [VEIL] [CLIENTS] [ROUNDS]
set -euo pipefail
veil="$(realpath "${1:-target/release/veil}")"
n="${2:-5}"
rounds="${3:-20}"
dir="$(mktemp -d)"
up=""
cleanup() {
  [ -n "$up" ] && kill "$up" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

"$veil" up --dir "$dir/stack" --listen 127.0.0.1:0 >"$dir/up.log" 2>&1 &
up=$!
for _ in $(seq 1 1200); do
  [ -s "$dir/stack/up.json" ] && break
  sleep 0.1
done
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$dir/stack/up.json" "$1"; }
gw="$(field gateway)"
m="$(field measurement)"

owner="$("$veil" fl key --out "$dir/owner.key")"
"$veil" keygen --out "$dir/model.identity" >/dev/null
clients=()
for i in $(seq 1 "$n"); do
  clients+=(--client "$("$veil" fl key --out "$dir/c$i.key")")
done
joins=()
for i in $(seq 1 "$n"); do
  "$veil" fl join --gateway "$gw" --name bench --owner "$owner" --key "$dir/c$i.key" \
    --model-key "$dir/model.identity" --id "$i" --of "$n" --rounds "$rounds" >"$dir/c$i.out" &
  joins+=($!)
done
start=$(date +%s.%N)
"$veil" fl run --gateway "$gw" --name bench --owner-key "$dir/owner.key" "${clients[@]}" \
  --model-key "$dir/model.identity" --dev-root "$dir/stack/pki/dev-root.pem" --measurement "$m" \
  --rounds "$rounds" --out "$dir/fl" | tail -n 1
end=$(date +%s.%N)
for pid in "${joins[@]}"; do
  wait "$pid" || { echo "a client failed" >&2; exit 1; }
done
python3 -c "import sys; t=float(sys.argv[2])-float(sys.argv[1]); print(f'{sys.argv[3]} rounds across {sys.argv[4]} client processes: {t:.2f} s, {1000*t/int(sys.argv[3]):.0f} ms per round')" \
  "$start" "$end" "$rounds" "$n"
