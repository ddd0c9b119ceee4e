// The SDK key check a marketplace provider makes per request, in ethers (the 0G compute
// SDK's own library): base64-decode `app-sk-…`, split JSON|signature, parse the JSON,
// keccak256 it and recover the EIP-191 signer, then compare with the token's address.
// Usage: node scripts/bench-market-verify.mjs KEY [VEIL_NS]  (bench-market-verify.sh passes both)
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { ethers } = createRequire(join(root, "crates/veil/tests/clients/market/package.json"))("ethers");
const [key, veilNs] = process.argv.slice(2);

function verify(k) {
  const raw = Buffer.from(k.slice("app-sk-".length), "base64").toString("utf8");
  const cut = raw.lastIndexOf("|");
  const message = raw.slice(0, cut);
  const token = JSON.parse(message);
  const signer = ethers.verifyMessage(ethers.getBytes(ethers.keccak256(ethers.toUtf8Bytes(message))), raw.slice(cut + 1));
  if (signer.toLowerCase() !== token.address.toLowerCase()) throw new Error("bad signature");
  return signer;
}

verify(key);
for (let i = 0; i < 200; i++) verify(key); // warm up the JIT
const runs = 2000;
const t0 = process.hrtime.bigint();
for (let i = 0; i < runs; i++) verify(key);
const ns = Number(process.hrtime.bigint() - t0) / runs;
console.log(`ethers ${ethers.version} key verify: ${(ns / 1000).toFixed(1)} µs`);
if (veilNs) {
  const v = Number(veilNs);
  console.log(`veil key verify: ${(v / 1000).toFixed(1)} µs; veil / ethers = ${(v / ns).toFixed(2)}`);
}
