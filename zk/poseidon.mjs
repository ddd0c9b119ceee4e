// Reference values from circomlibjs for the Rust tests: reads JSON on stdin,
// {"hash": [[decimal, ...], ...], "income": [{account, epoch, amounts, salt, slots}, ...]},
// writes {"hash": [decimal, ...], "income": [decimal, ...]}.
import { buildPoseidon } from "circomlibjs";

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const req = JSON.parse(Buffer.concat(chunks).toString());
const poseidon = await buildPoseidon();
const F = poseidon.F;
const h = (xs) => F.toObject(poseidon(xs.map((x) => BigInt(x))));

// The income-threshold commitment, as crates/veil-zk/src/income.rs documents it.
function income({ account, epoch, amounts, salt, slots }) {
  const padded = amounts.map(BigInt).concat(Array(slots - amounts.length).fill(0n));
  let acc = h([account, epoch, amounts.length]);
  for (let i = 0; i < padded.length; i += 11) {
    const chunk = padded.slice(i, i + 11);
    while (chunk.length < 11) chunk.push(0n);
    acc = h([acc, ...chunk]);
  }
  return h([acc, salt]);
}

const out = {
  hash: (req.hash || []).map((xs) => h(xs).toString()),
  income: (req.income || []).map((s) => income(s).toString()),
};
process.stdout.write(JSON.stringify(out));
