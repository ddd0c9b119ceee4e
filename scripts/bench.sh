#!/usr/bin/env bash
# Reproduces docs/BENCHMARKS.md: Veil's seal/open/root on a 1 GiB file next to `age`
# and OpenSSL on the same bytes, in the same run. Files live on tmpfs so the disk is
# not what is measured. Needs: age, time (GNU), openssl (Debian packages).
# Usage: scripts/bench.sh [SIZE_MIB] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib="${1:-1024}"
runs="${2:-5}"

for tool in age age-keygen openssl /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install age time openssl" >&2; exit 1; }
done

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/veil/target}"
cargo build --release --locked -p veil >/dev/null
veil="$CARGO_TARGET_DIR/release/veil"

work="$(mktemp -d /dev/shm/veil-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT
head -c "$((size_mib << 20))" /dev/urandom >"$work/in"
"$veil" keygen --out "$work/veil.key" >"$work/veil.pub"
age-keygen -o "$work/age.key" 2>/dev/null
age_pub="$(grep -o 'age1[0-9a-z]*' "$work/age.key" | head -1)"

# Time one command: "seconds max_rss_kib".
once() {
  /usr/bin/time -f "%e %M" -o "$work/t" "$@" >/dev/null
  cat "$work/t"
}

# The host's memory is noisy (writing fresh pages can take 5x longer from one run to
# the next), so the two commands of a pair run alternately, and each keeps its best
# run: "a_seconds a_rss b_seconds b_rss".
pair() {
  local n=$1; shift
  local a=("${@:1:n}") b=("${@:n+1}")
  local ba="" ra="" bb="" rb="" t m
  for _ in $(seq "$runs"); do
    read -r t m < <(once "${a[@]}")
    if [ -z "$ba" ] || awk "BEGIN{exit !($t < $ba)}"; then ba=$t; ra=$m; fi
    read -r t m < <(once "${b[@]}")
    if [ -z "$bb" ] || awk "BEGIN{exit !($t < $bb)}"; then bb=$t; rb=$m; fi
  done
  echo "$ba $ra $bb $rb"
}

row() { # name, seconds, rss
  awk -v n="$1" -v s="$2" -v r="$3" -v mib="$size_mib" \
    'BEGIN{printf "| %-34s | %8.2f s | %8.0f MB/s | %7.1f MiB |\n", n, s, mib*1.048576/s, r/1024}'
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(grep -o -w 'aes\|vaes\|vpclmulqdq\|avx512f' /proc/cpuinfo | sort -u | xargs)"
echo "input: $size_mib MiB of random bytes on tmpfs; best of $runs runs each, the two tools alternating"
echo
echo "| command                            |     time |  throughput |  peak RSS |"
echo "|------------------------------------|----------|-------------|-----------|"
pk="$(cat "$work/veil.pub")"
read -r vs vm as am < <(pair 6 "$veil" seal --to "$pk" "$work/in" "$work/in.veil" age -r "$age_pub" -o "$work/in.age" "$work/in")
row "veil seal" "$vs" "$vm"; row "age -r (encrypt)" "$as" "$am"
read -r vo vm ao am < <(pair 6 "$veil" open --key "$work/veil.key" "$work/in.veil" "$work/out.veil" age -d -i "$work/age.key" -o "$work/out.age" "$work/in.age")
row "veil open" "$vo" "$vm"; row "age -d (decrypt)" "$ao" "$am"
cmp -s "$work/in" "$work/out.veil" || { echo "veil round trip differs" >&2; exit 1; }
read -r vr vm ks km < <(pair 3 "$veil" root "$work/in" openssl dgst -sha3-256 "$work/in")
row "veil root (0G Merkle root)" "$vr" "$vm"; row "openssl dgst -sha3-256 (keccak-f)" "$ks" "$km"
echo
awk -v a="$as" -v b="$vs" 'BEGIN{printf "seal vs age encrypt: %.2fx\n", a/b}'
awk -v a="$ao" -v b="$vo" 'BEGIN{printf "open vs age decrypt: %.2fx\n", a/b}'
awk -v a="$ks" -v b="$vr" 'BEGIN{printf "root vs raw keccak (same permutation, rate 136): %.2fx of the bound\n", a/b}'
echo
echo "AES-256-GCM bound of this CPU (openssl speed, 16 KiB blocks, one core):"
openssl speed -evp aes-256-gcm -bytes 16384 -seconds 3 2>/dev/null | tail -1
