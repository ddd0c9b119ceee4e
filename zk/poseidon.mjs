// Reference values from circomlibjs for the Rust tests: reads JSON on stdin,
// {"hash": [[decimal, ...], ...], "income": [{account, epoch, amounts, salt, slots}, ...],
//  "mlp": [{network, input, salt, outputs}, ...]},
// writes {"hash": [decimal, ...], "income": [decimal, ...], "mlp": [{model, input, output}, ...]}.
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

// The zkML commitments, as crates/veil-zk/src/mlp.rs documents them, written
// independently: tagged chains over packed weights, biases, inputs and outputs.
function chain(tag, elems) {
  let acc = h([tag, elems.length]);
  for (let i = 0; i < elems.length; i += 11) {
    const chunk = elems.slice(i, i + 11);
    while (chunk.length < 11) chunk.push(0n);
    acc = h([acc, ...chunk]);
  }
  return acc;
}

function pack(values, width, per) {
  const out = [];
  for (let i = 0; i < values.length; i += per) {
    let acc = 0n;
    values.slice(i, i + per).forEach((v, k) => {
      acc += BigInt(v) << BigInt(width * k);
    });
    out.push(acc);
  }
  return out;
}

function mlp({ network, input, salt, outputs }) {
  const header = [BigInt(network.layers.length)];
  const body = [];
  for (const l of network.layers) {
    const [m, s] = l.requant || [0, 0];
    header.push(BigInt(l.inputs), BigInt(l.outputs), l.relu ? 1n : 0n, BigInt(m), BigInt(s));
    body.push(...pack(l.weights.map((w) => w + 127), 8, 31));
    body.push(...pack(l.bias.map((b) => BigInt(b) + 2n ** 31n), 32, 7));
  }
  const p = F.p;
  return {
    model: chain(1, header.concat(body)).toString(),
    input: chain(2, pack(input.map((x) => x + 127), 8, 31).concat([BigInt(salt)])).toString(),
    output: chain(3, outputs.map((o) => (((BigInt(o) + 2n ** 31n) % p) + p) % p)).toString(),
  };
}

const out = {
  hash: (req.hash || []).map((xs) => h(xs).toString()),
  income: (req.income || []).map((s) => income(s).toString()),
  mlp: (req.mlp || []).map(mlp),
};
process.stdout.write(JSON.stringify(out));
