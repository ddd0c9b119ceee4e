// Gas per settled request, Veil's InferenceServing next to 0G's own, on one anvil chain
// in the same run (docs/BENCHMARKS.md). 0G's contracts are the bytecode the 0G compute
// SDK ships in its typechain factories (npm, pinned in crates/veil/tests/clients/market),
// behind OpenZeppelin ERC1967 proxies as 0G deploys them; Veil's are contracts/artifacts.
// For each: 61 users with a ledger and a funded, acknowledged sub-account with one
// provider, then settlements of 1, 10 and 50 users (each one's first, so the account's
// nonce goes from zero) signed by the service's TEE key under each contract's EIP-712.
//
// Needs: scripts/contracts.sh and scripts/clients.sh run once (anvil, solc, the SDK).
// Usage: node scripts/bench-market-gas.mjs
import { createRequire } from "node:module";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const sdkDir = join(root, "crates/veil/tests/clients/market");
const requireSdk = createRequire(join(sdkDir, "package.json"));
const requireContracts = createRequire(join(root, "contracts/package.json"));
const { ethers } = requireSdk("ethers");
const solc = requireContracts("solc");
const sdkLib = join(dirname(requireSdk.resolve("@0gfoundation/0g-compute-ts-sdk")));
const zg = {
  ledger: requireSdk(join(sdkLib, "ledger/contract/typechain/factories/LedgerManager__factory.js")).LedgerManager__factory,
  serving: requireSdk(join(sdkLib, "inference/contract/typechain/factories/InferenceServing__factory.js"))
    .InferenceServing__factory,
};
const veilArtifact = (n) => JSON.parse(readFileSync(join(root, "contracts/artifacts", n + ".json"), "utf8"));

// OpenZeppelin's ERC1967Proxy, compiled here with the pinned solc-js.
function proxyArtifact() {
  const input = {
    language: "Solidity",
    sources: { "P.sol": { content: 'import "@openzeppelin/contracts/proxy/ERC1967/ERC1967Proxy.sol";' } },
    settings: { optimizer: { enabled: true, runs: 200 }, outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } } },
  };
  const find = (p) => {
    try {
      return { contents: readFileSync(join(root, "contracts/node_modules", p), "utf8") };
    } catch {
      return { error: "not found: " + p };
    }
  };
  const out = JSON.parse(solc.compile(JSON.stringify(input), { import: find }));
  const c = out.contracts["@openzeppelin/contracts/proxy/ERC1967/ERC1967Proxy.sol"].ERC1967Proxy;
  return { abi: c.abi, bytecode: "0x" + c.evm.bytecode.object };
}

const USERS = 61;
const BATCHES = [1, 10, 50];
const port = 18545 + Math.floor(Math.random() * 1000);
const anvil = spawn(join(root, "contracts/node_modules/.bin/anvil"), ["--port", String(port), "--silent", "--accounts", "2", "--balance", "1000000"], { stdio: "ignore" });
process.on("exit", () => anvil.kill());

async function main() {
  const provider = new ethers.JsonRpcProvider(`http://127.0.0.1:${port}`, undefined, { staticNetwork: true, pollingInterval: 50, cacheTimeout: -1 });
  for (let i = 0; ; i++) {
    try {
      await provider.getBlockNumber();
      break;
    } catch (e) {
      if (i > 100) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const { chainId } = await provider.getNetwork();
  const funder = new ethers.NonceManager(await provider.getSigner(0));
  const owner = funder;
  const providerWallet = new ethers.NonceManager(await provider.getSigner(1));
  const providerAddress = await providerWallet.getAddress();
  const tee = ethers.Wallet.createRandom();
  const users = Array.from({ length: USERS }, () => ethers.Wallet.createRandom().connect(provider));
  for (const u of users) await (await funder.sendTransaction({ to: u.address, value: ethers.parseEther("20") })).wait();
  const proxy = proxyArtifact();

  async function deployVeil() {
    const L = veilArtifact("LedgerManager"), S = veilArtifact("InferenceServing");
    const ledger = await new ethers.ContractFactory(L.abi, L.bytecode, owner).deploy(await owner.getAddress());
    await ledger.waitForDeployment();
    const serving = await new ethers.ContractFactory(S.abi, S.bytecode, owner).deploy(3600, await ledger.getAddress(), await owner.getAddress());
    await serving.waitForDeployment();
    return { ledger, serving, stake: ethers.parseEther("1"), ackByUser: true,
      domain: { name: "VeilInferenceServing", version: "1" },
      types: { TEESettlement: [
        { name: "user", type: "address" }, { name: "provider", type: "address" }, { name: "totalFee", type: "uint256" },
        { name: "requestsHash", type: "bytes32" }, { name: "nonce", type: "uint256" }] } };
  }

  async function deployZeroG() {
    const behind = async (factory, init) => {
      const impl = await new ethers.ContractFactory(factory.abi, factory.bytecode, owner).deploy();
      await impl.waitForDeployment();
      const data = new ethers.Interface(factory.abi).encodeFunctionData("initialize", init);
      const p = await new ethers.ContractFactory(proxy.abi, proxy.bytecode, owner).deploy(await impl.getAddress(), data);
      await p.waitForDeployment();
      return new ethers.Contract(await p.getAddress(), factory.abi, owner);
    };
    const ledger = await behind(zg.ledger, [await owner.getAddress()]);
    const serving = await behind(zg.serving, [3600, await ledger.getAddress(), await owner.getAddress()]);
    return { ledger, serving, stake: ethers.parseEther("100"), ackByUser: false,
      domain: { name: "0G Inference Serving", version: "1" },
      types: { TEESettlement: [
        { name: "requestsHash", type: "bytes32" }, { name: "nonce", type: "uint256" }, { name: "provider", type: "address" },
        { name: "user", type: "address" }, { name: "totalFee", type: "uint256" }] } };
  }

  async function measure(name, c) {
    await (await c.ledger.registerService("inference", "v1.0", await c.serving.getAddress(), "bench")).wait();
    const params = ["chatbot", "http://127.0.0.1:1", "m", "TeeML", 1n, 2n, "{}", tee.address];
    await (await c.serving.connect(providerWallet).addOrUpdateService(params, { value: c.stake })).wait();
    await (await c.serving.acknowledgeTEESignerByOwner(providerAddress)).wait();
    for (const u of users) {
      await (await c.ledger.connect(u).addLedger("", { value: ethers.parseEther("5") })).wait();
      await (await c.ledger.connect(u).transferFund(providerAddress, "inference-v1.0", ethers.parseEther("2"))).wait();
      if (c.ackByUser) await (await c.serving.connect(u).acknowledgeTEESigner(providerAddress, true)).wait();
    }
    const domain = { ...c.domain, chainId, verifyingContract: await c.serving.getAddress() };
    const rows = [];
    let next = 0;
    for (const n of BATCHES) {
      const batch = [];
      for (const u of users.slice(next, next + n)) {
        const s = { user: u.address, provider: providerAddress, totalFee: 1000n, requestsHash: ethers.keccak256(ethers.toUtf8Bytes(u.address)), nonce: 1n };
        batch.push({ ...s, signature: await tee.signTypedData(domain, c.types, s) });
      }
      next += n;
      const statuses = await c.serving.connect(providerWallet).settleFeesWithTEE.staticCall(batch);
      if (statuses.some((x) => Number(x) !== 0)) throw new Error(`${name}: statuses ${statuses}`);
      const receipt = await (await c.serving.connect(providerWallet).settleFeesWithTEE(batch)).wait();
      rows.push({ contract: name, batch: n, gas: Number(receipt.gasUsed), perRequest: Math.round(Number(receipt.gasUsed) / n) });
    }
    return rows;
  }

  const veil = await measure("veil", await deployVeil());
  const zerog = await measure("0g", await deployZeroG());
  console.log("| batch | Veil gas | Veil gas/request | 0G gas | 0G gas/request | Veil / 0G |");
  console.log("|---|---|---|---|---|---|");
  for (let i = 0; i < BATCHES.length; i++) {
    const v = veil[i], z = zerog[i];
    console.log(`| ${v.batch} | ${v.gas} | ${v.perRequest} | ${z.gas} | ${z.perRequest} | ${(v.gas / z.gas).toFixed(2)} |`);
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
