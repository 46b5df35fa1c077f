#!/usr/bin/env node
// Copies package.json's version into src/package-info.ts's VERSION constant (run by
// `npm version`). The constant exists so that a bundle of shortgpt knows its own version
// without reading a package.json at run time; test/package-exports.test.ts checks they agree.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const file = join(root, "src", "package-info.ts");
const source = readFileSync(file, "utf8");
const pattern = /^export const VERSION = "[^"]*";$/m;
if (!pattern.test(source)) {
  console.error(`sync-version: no 'export const VERSION = "...";' line in ${file}`);
  process.exit(1);
}
writeFileSync(file, source.replace(pattern, `export const VERSION = ${JSON.stringify(version)};`));
console.log(`sync-version: VERSION = ${version}`);
