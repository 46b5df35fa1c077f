#!/usr/bin/env node
// `npm run bench -- [suite ...]`: runs benchmark suites from scripts/bench/<suite>.mjs
// (all of them when none is named) and writes each suite's markdown section into
// docs/BENCHMARKS.md between `<!-- bench:<suite>:begin -->` and `<!-- bench:<suite>:end -->`,
// leaving the other sections as they were. Suites compare against llama.cpp and
// cp in the same run and quote medians and ratios, never single timings.
//
// A suite module exports: `description` (string) and
//   `run({ log, args }) => Promise<{ markdown: string }>`.
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import os from "node:os";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const suiteDir = join(root, "scripts", "bench");
const available = readdirSync(suiteDir).filter((f) => f.endsWith(".mjs") && !f.startsWith("_")).map((f) => f.slice(0, -4)).sort();

const argv = process.argv.slice(2);
const flags = argv.filter((a) => a.startsWith("--"));
const names = argv.filter((a) => !a.startsWith("--"));
if (flags.includes("--help")) {
  console.log(`usage: npm run bench -- [suite ...] [--no-write]\nsuites: ${available.join(", ")}`);
  process.exit(0);
}
const unknown = names.filter((n) => !available.includes(n));
if (unknown.length > 0) {
  console.error(`bench: unknown suite(s) ${unknown.join(", ")}; available: ${available.join(", ")}`);
  process.exit(2);
}
if (!existsSync(join(root, "dist", "index.js")) && !existsSync(join(root, "dist", "cli", "main.js"))) {
  console.error("bench: dist/ is missing; run `npm run build` first");
  process.exit(1);
}

const docPath = join(root, "docs", "BENCHMARKS.md");
const header = `# Benchmarks

Written by \`npm run bench\` (scripts/bench.mjs); each section is replaced when its suite runs.
Figures are medians of repeated runs on a shared, noisy machine: read the ratios, not the
absolute numbers. Every comparison (llama.cpp, cp) runs in the same run as ours, the two sides'
runs interleaved, and each ratio comes with its range round by round; a ratio whose rounds differ
by more than 25% is marked ⚠ noisy and listed under "Too noisy to trust" (src/cli/bench-stats.ts).
Sections measured before that rule existed show a single figure.
`;

function machineLine() {
  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  return `${cpu}, ${os.cpus().length} logical cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}, ${os.platform()} ${os.arch()}`;
}

let doc = existsSync(docPath) ? readFileSync(docPath, "utf8") : header;
for (const name of names.length > 0 ? names : available) {
  const suite = await import(join(suiteDir, `${name}.mjs`));
  console.error(`bench: ${name}: ${suite.description ?? ""}`);
  const { markdown } = await suite.run({ log: (line) => console.error(`bench: ${name}: ${line}`), args: flags, root });
  const section = `<!-- bench:${name}:begin -->\n## ${name}\n\n${suite.description ?? ""}\n\nMeasured ${new Date().toISOString().slice(0, 10)} on ${machineLine()}.\n\n${markdown.trim()}\n<!-- bench:${name}:end -->`;
  const re = new RegExp(`<!-- bench:${name}:begin -->[\\s\\S]*?<!-- bench:${name}:end -->`);
  doc = re.test(doc) ? doc.replace(re, section) : `${doc.trimEnd()}\n\n${section}\n`;
  console.log(markdown.trim());
}
if (!flags.includes("--no-write")) {
  writeFileSync(docPath, doc);
  console.error(`bench: wrote ${docPath}`);
}
