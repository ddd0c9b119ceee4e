// The 0G compute SDK's whole user flow against a Veil provider, with the SDK and
// OpenAI's npm client unchanged: list → addLedger → acknowledge → headers → chat →
// processResponse → settlement (the ledger falls by exactly the billed usage) →
// retrieveFund/refund, then the refusals a provider owes bad keys. One JSON object per
// line on stdout; anything unexpected throws (non-zero exit).
//
// node sdk_flow.cjs RPC LEDGER SERVING PROVIDER USER_KEY STRANGER_KEY
const { ethers } = require("ethers");
const { createZGComputeNetworkBroker } = require("@0gfoundation/0g-compute-ts-sdk");
const OpenAI = require("openai");

const [rpc, ledgerCA, servingCA, providerAddress, ...keys] = process.argv.slice(2);
const [userKey, strangerKey] = keys.map((k) => (k.startsWith("0x") ? k : "0x" + k));
const out = (o) => process.stdout.write(JSON.stringify(o, (_, v) => (typeof v === "bigint" ? v.toString() : v)) + "\n");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// The SDK logs to the console; keep stdout for results.
console.log = (...a) => process.stderr.write(a.join(" ") + "\n");
console.warn = console.log;

// A key in the SDK's own format, for the refusals (the SDK only makes good ones).
async function key(wallet, fields) {
  const token = {
    address: wallet.address,
    provider: providerAddress,
    timestamp: Date.now(),
    expiresAt: Date.now() + 3600_000,
    nonce: "veil-test-" + Math.random().toString(36).slice(2),
    generation: 0,
    tokenId: 255,
    ...fields,
  };
  const message = JSON.stringify(token);
  const signature = await wallet.signMessage(ethers.getBytes(ethers.keccak256(ethers.toUtf8Bytes(message))));
  return { message, signature };
}
const bearer = ({ message, signature }) => `Bearer app-sk-${Buffer.from(message + "|" + signature).toString("base64")}`;

async function main() {
  const provider = new ethers.JsonRpcProvider(rpc, undefined, { staticNetwork: true, pollingInterval: 200 });
  const wallet = new ethers.Wallet(userKey, provider);
  const broker = await createZGComputeNetworkBroker(wallet, ledgerCA, servingCA, ethers.ZeroAddress);

  const services = await broker.inference.listService();
  const svc = services.find((s) => s.provider.toLowerCase() === providerAddress.toLowerCase());
  if (!svc) throw new Error("the provider is not listed: " + JSON.stringify(services));
  out({ step: "list", count: services.length, url: svc.url, model: svc.model, inputPrice: svc.inputPrice,
        outputPrice: svc.outputPrice, verifiability: svc.verifiability, teeSigner: svc.teeSignerAddress,
        acknowledged: svc.teeSignerAcknowledged });

  await broker.ledger.addLedger(5);
  await broker.inference.acknowledgeProviderSigner(providerAddress);
  const { endpoint, model } = await broker.inference.getServiceMetadata(providerAddress);
  const headers = await broker.inference.getRequestHeaders(providerAddress);
  const account = await broker.inference.getAccount(providerAddress);
  const before = await broker.ledger.getLedger();
  out({ step: "funded", endpoint, model, total: before.totalBalance, available: before.availableBalance,
        account: account.balance, acknowledged: account.acknowledged });

  const openai = new OpenAI({ baseURL: endpoint, apiKey: "" });
  const completion = await openai.chat.completions.create(
    { model, messages: [{ role: "user", content: "Name a colour." }], max_tokens: 12 },
    { headers },
  );
  const valid = await broker.inference.processResponse(providerAddress, completion.id, JSON.stringify(completion.usage));
  const signed = await (await fetch(`${svc.url}/v1/proxy/signature/${completion.id}?model=${model}`)).json();
  out({ step: "chat", id: completion.id, content: completion.choices[0].message.content, usage: completion.usage,
        valid, text: signed.text });

  // A streamed answer through the same client.
  const stream = await openai.chat.completions.create(
    { model, messages: [{ role: "user", content: "Name a fruit." }], max_tokens: 8, stream: true,
      stream_options: { include_usage: true } },
    { headers },
  );
  let text = "", usage = null, streamId = null;
  for await (const chunk of stream) {
    streamId = chunk.id;
    text += chunk.choices[0]?.delta?.content ?? "";
    if (chunk.usage) usage = chunk.usage;
  }
  const streamValid = await broker.inference.processResponse(providerAddress, streamId, JSON.stringify(usage));
  out({ step: "stream", id: streamId, content: text, usage, valid: streamValid });

  // The provider settles by itself: the ledger falls by exactly the billed usage.
  const fee = (u) => BigInt(u.prompt_tokens) * svc.inputPrice + BigInt(u.completion_tokens) * svc.outputPrice;
  const billed = fee(completion.usage) + fee(usage);
  let after = before;
  for (let i = 0; i < 300 && after.totalBalance !== before.totalBalance - billed; i++) {
    await sleep(200);
    after = await broker.ledger.getLedger();
  }
  const unsettled = await (await fetch(`${svc.url}/v1/user/${wallet.address}/unsettledfee`, { headers })).json();
  out({ step: "settled", before: before.totalBalance, after: after.totalBalance, billed, unsettled });

  // Refusals, each in the OpenAI error shape.
  const ask = async (authorization) => {
    const r = await fetch(`${endpoint}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization },
      body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }], max_tokens: 4 }),
    });
    return { status: r.status, error: (await r.json()).error };
  };
  const good = await key(wallet, {});
  const tampered = { message: good.message.replace('"tokenId":255', '"tokenId":254'), signature: good.signature };
  const stranger = new ethers.Wallet(strangerKey);
  out({
    step: "refusals",
    expired: await ask(bearer(await key(wallet, { expiresAt: Date.now() - 1000 }))),
    foreign: await ask(bearer(await key(wallet, { provider: ethers.Wallet.createRandom().address }))),
    tampered: await ask(bearer(tampered)),
    malformed: await ask("Bearer app-sk-%%%"),
    unfunded: await ask(bearer(await key(stranger, {}))),
  });

  // Revoking every key (a generation bump) refuses the SDK's cached one.
  await broker.inference.revokeAllTokens(providerAddress);
  out({ step: "revoked", old: await ask(headers.Authorization) });

  // Taking funds back: request from the provider (time-locked), refund what is free.
  await broker.ledger.retrieveFund("inference");
  const pending = await broker.inference.getAccount(providerAddress);
  const free = await broker.ledger.getLedger();
  const walletBefore = await provider.getBalance(wallet.address);
  await broker.ledger.refund(1);
  const end = await broker.ledger.getLedger();
  const walletAfter = await provider.getBalance(wallet.address);
  out({ step: "refund", pendingRefund: pending.pendingRefund, accountBalance: pending.balance,
        availableBefore: free.availableBalance, availableAfter: end.availableBalance,
        walletGain: walletAfter - walletBefore });
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(String(e && e.stack ? e.stack : e) + "\n");
    process.exit(1);
  },
);
