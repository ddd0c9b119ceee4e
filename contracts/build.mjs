// Compile src/*.sol with the pinned solc-js and write artifacts/<Contract>.json (ABI,
// creation and runtime bytecode). `--check` compiles and fails if the committed
// artifacts differ, so the Rust bindings never drift from the Solidity.
import { createRequire } from "node:module";
import { readFileSync, readdirSync, writeFileSync, renameSync, mkdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const solc = require("solc");
const here = dirname(fileURLToPath(import.meta.url));
const check = process.argv.includes("--check");

const sources = {};
for (const f of readdirSync(join(here, "src")).filter((f) => f.endsWith(".sol")).sort()) {
  sources[`src/${f}`] = { content: readFileSync(join(here, "src", f), "utf8") };
}
const input = {
  language: "Solidity",
  sources,
  settings: {
    evmVersion: "cancun",
    optimizer: { enabled: true, runs: 200 },
    viaIR: true,
    remappings: ["@openzeppelin/contracts/=node_modules/@openzeppelin/contracts/"],
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
  },
};
function findImports(path) {
  try {
    return { contents: readFileSync(join(here, path), "utf8") };
  } catch {
    return { error: `file not found: ${path}` };
  }
}
const out = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
const errors = (out.errors || []).filter((e) => e.severity === "error");
for (const e of out.errors || []) process.stderr.write(e.formattedMessage);
if (errors.length) process.exit(1);

mkdirSync(join(here, "artifacts"), { recursive: true });
let drift = [];
for (const [file, contracts] of Object.entries(out.contracts || {})) {
  if (!file.startsWith("src/")) continue; // libraries are not deployed on their own
  for (const [name, c] of Object.entries(contracts)) {
    if (c.evm.bytecode.object === "") continue; // interfaces
    const artifact =
      JSON.stringify(
        {
          contractName: name,
          sourceName: file,
          compiler: solc.version(),
          abi: c.abi,
          bytecode: "0x" + c.evm.bytecode.object,
          deployedBytecode: "0x" + c.evm.deployedBytecode.object,
        },
        null,
        2,
      ) + "\n";
    const path = join(here, "artifacts", `${name}.json`);
    if (check) {
      let committed = "";
      try {
        committed = readFileSync(path, "utf8");
      } catch {}
      if (committed !== artifact) drift.push(name);
    } else {
      writeFileSync(path + ".tmp", artifact);
      renameSync(path + ".tmp", path);
    }
  }
}
if (drift.length) {
  process.stderr.write(`artifacts differ from the sources: ${drift.join(", ")} (run: node contracts/build.mjs)\n`);
  process.exit(1);
}
process.stdout.write(check ? "artifacts match the sources\n" : "artifacts written\n");
