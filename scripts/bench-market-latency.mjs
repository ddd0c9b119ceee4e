// End-to-end latency a marketplace request adds over a direct chat, on one stack in one
// run (docs/BENCHMARKS.md); bench-market-latency.sh starts the stack and passes the args.
// direct:  OpenAI's npm client with a Veil access grant → /v1/chat/completions (a token
//          chat: grant check, key release, the token's one short document retrieved)
// market:  the 0G compute SDK's getRequestHeaders → the same client on /v1/proxy with the
//          SDK key (key checks, chain reads, balance check, charge) → processResponse
//          (the enclave-signed receipt fetched and its signer checked)
// Rounds alternate the two; both ask the same question over the same context, greedy,
// at most 8 tokens.
// Usage: node bench-market-latency.mjs GATEWAY GRANT RPC LEDGER SERVING PROVIDER USER_KEY ROUNDS
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const need = createRequire(join(root, "crates/veil/tests/clients/market/package.json"));
const { ethers } = need("ethers");
const { createZGComputeNetworkBroker } = need("@0gfoundation/0g-compute-ts-sdk");
const OpenAI = need("openai");
const [gateway, grant, rpc, ledgerCA, servingCA, providerAddress, userKey, roundsArg] = process.argv.slice(2);
const rounds = Number(roundsArg || 20);
console.log = (...a) => process.stderr.write(a.join(" ") + "\n"); // the SDK's chatter
const say = (s) => process.stdout.write(s + "\n");

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p90 = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.9)];
const now = () => Number(process.hrtime.bigint()) / 1e6;

const provider = new ethers.JsonRpcProvider(rpc, undefined, { staticNetwork: true, pollingInterval: 200 });
const wallet = new ethers.Wallet(userKey.startsWith("0x") ? userKey : "0x" + userKey, provider);
const broker = await createZGComputeNetworkBroker(wallet, ledgerCA, servingCA, ethers.ZeroAddress);
await broker.ledger.addLedger(5);
await broker.inference.acknowledgeProviderSigner(providerAddress);
const { endpoint, model } = await broker.inference.getServiceMetadata(providerAddress);

const direct = new OpenAI({ baseURL: gateway + "/v1", apiKey: grant });
const market = new OpenAI({ baseURL: endpoint, apiKey: "" });
const question = { role: "user", content: "Name a colour." };
const body = { model, messages: [question], max_tokens: 8, temperature: 0 };
// The direct chat's model sees Veil's instructions and the retrieved passage as a system
// message; the market request carries the same text itself, so both prompts match.
const context =
  "You answer questions about the user's private documents. Use only the passages below; each begins with " +
  "its source in brackets. If the passages do not hold the answer, say that you do not know.\n\n" +
  "[colours.md] Colours: red, green and blue are primary colours of light.";
const marketBody = { ...body, messages: [{ role: "system", content: context }, question] };

const t = { direct: [], market: [], headers: [], chat: [], process: [] };
const tokens = { direct: [], market: [] };
for (let i = 0; i < rounds + 2; i++) {
  let t0 = now();
  const d = await direct.chat.completions.create(body);
  const dt = now() - t0;
  t0 = now();
  const headers = await broker.inference.getRequestHeaders(providerAddress);
  const t1 = now();
  const m = await market.chat.completions.create(marketBody, { headers });
  const t2 = now();
  const valid = await broker.inference.processResponse(providerAddress, m.id, JSON.stringify(m.usage));
  const t3 = now();
  if (!valid) throw new Error("processResponse refused the answer");
  if (i < 2) continue; // warm-up
  t.direct.push(dt);
  t.market.push(t3 - t0);
  t.headers.push(t1 - t0);
  t.chat.push(t2 - t1);
  t.process.push(t3 - t2);
  tokens.direct.push(`${d.usage.prompt_tokens}+${d.usage.completion_tokens}`);
  tokens.market.push(`${m.usage.prompt_tokens}+${m.usage.completion_tokens}`);
}
const row = (name, xs) => say(`| ${name} | ${median(xs).toFixed(1)} | ${p90(xs).toFixed(1)} |`);
say(`${rounds} rounds; tokens (prompt+completion) direct ${tokens.direct[0]}, market ${tokens.market[0]}`);
say("| path (ms) | median | p90 |");
say("|---|---|---|");
row("direct chat (grant)", t.direct);
row("marketplace, end to end", t.market);
row("  getRequestHeaders", t.headers);
row("  chat on /v1/proxy", t.chat);
row("  processResponse", t.process);
say(`marketplace / direct (medians) = ${(median(t.market) / median(t.direct)).toFixed(2)}; added ${(median(t.market) - median(t.direct)).toFixed(1)} ms`);
process.exit(0);
