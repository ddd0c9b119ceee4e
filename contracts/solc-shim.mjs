#!/usr/bin/env node
// A `solc` command-line front for solc-js, so that forge compiles with the exact
// compiler this project pins on npm (forge --use ./solc-shim.mjs). It answers the two
// calls forge makes: `--version` and `--standard-json` (input on stdin, sources inlined).
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

const require = createRequire(import.meta.url);
const solc = require("solc");
const args = process.argv.slice(2);

if (args.includes("--version")) {
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
  process.exit(0);
}
if (!args.includes("--standard-json")) {
  process.stderr.write("solc-shim: only --version and --standard-json are supported\n");
  process.exit(2);
}

// Imports forge did not inline are read relative to the allowed/base paths it passes.
const roots = [];
for (let i = 0; i < args.length; i++) {
  if (["--base-path", "--include-path", "--allow-paths"].includes(args[i]) && args[i + 1]) {
    roots.push(...args[i + 1].split(","));
  }
}
function findImports(path) {
  for (const root of ["", ...roots]) {
    try {
      return { contents: readFileSync(resolve(root, path), "utf8") };
    } catch {}
  }
  return { error: `file not found: ${path}` };
}

const input = readFileSync(0, "utf8");
process.stdout.write(solc.compile(input, { import: findImports }));
