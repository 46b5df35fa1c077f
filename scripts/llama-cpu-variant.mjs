#!/usr/bin/env node
// Runs a command with llama.cpp (node-llama-cpp's prebuilt CPU binaries) restricted to one ggml
// CPU variant, to see what the tests' llama.cpp references look like on another kind of x86-64.
//
//   node scripts/llama-cpu-variant.mjs                     # the variants shipped, and which one this CPU loads
//   node scripts/llama-cpu-variant.mjs haswell -- npx vitest run test/reference-harness.test.ts
//   node scripts/llama-cpu-variant.mjs x64 --keep -- node scripts/make-reference-fixtures.mjs
//
// Why: @node-llama-cpp/linux-x64 ships one libggml-cpu-<variant>.so per x86-64 generation (x64,
// sse42, sandybridge, haswell, skylakex, icelake, zen4, sapphirerapids, ...), and ggml loads the
// best one the CPU supports (ggml_backend_load_best: the highest ggml_backend_score in the folder
// beside llama-addon.node). The variants compute the same things with different SIMD code, so
// llama.cpp's logits differ in the last bits from one CPU to another (an AMD EPYC with AVX2 loads
// haswell, an AVX-512 Xeon icelake), and small quantized models turn those bits into different
// greedy tokens at near-ties. There is no option to choose a variant, so this makes a hard-linked
// copy of the checkout (cheap: no file data is copied) whose llama.cpp folder holds only the
// chosen variant, checks that llama.cpp loads it there, and runs the command in that copy.
//
// The copy's files are hard links to this checkout's: do not edit files there (an in-place write
// would change both). Files written by replace (the fixture script's tmp + rename) are safe.
// ../shared is linked beside the copy so tests find ../shared/data as usual. The copy is removed
// afterwards unless --keep. SHORTGPT_LLAMA_CPU_VARIANT is set in the command's environment.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const PLATFORM = `${process.platform}-${process.arch}`;

function fail(message, code = 1) {
  console.error(`llama-cpu-variant: ${message}`);
  process.exit(code);
}

/** The folder holding llama-addon.node and the libggml-cpu-*.so variants, under `root`. */
function binsDir(root) {
  return join(root, "node_modules", "@node-llama-cpp", PLATFORM, "bins", PLATFORM);
}

function variantsIn(dir) {
  return readdirSync(dir)
    .map((f) => /^libggml-cpu-(.+)\.so$/.exec(f)?.[1])
    .filter((v) => v !== undefined)
    .sort();
}

/** Which variant llama.cpp loads when started from `root` (null when it loads none). */
function loadedVariant(root) {
  // A file, not `node -e`: node-llama-cpp tests its binary in a child started with this
  // process's execArgv, and --input-type there breaks it.
  const dir = mkdtempSync(join(tmpdir(), "shortgpt-llama-probe-"));
  const probe = join(dir, "probe.mjs");
  writeFileSync(
    probe,
    `const { getLlama } = await import(${JSON.stringify(pathToFileURL(join(root, "node_modules", "node-llama-cpp", "dist", "index.js")).href)});
let variant = null;
const llama = await getLlama({ gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true, progressLogs: false, logLevel: "log",
  logger: (level, message) => { const m = /loaded CPU backend from .*libggml-cpu-([\\w-]+)\\.so/.exec(message); if (m) variant = m[1]; } });
for (let i = 0; i < 50 && variant === null; i++) await new Promise((r) => setTimeout(r, 10));
console.log(JSON.stringify({ variant }));
await llama.dispose();
`,
  );
  try {
    const r = spawnSync(process.execPath, [probe], { cwd: root, encoding: "utf8" });
    const last = r.stdout.trim().split("\n").pop() ?? "";
    if (r.status !== 0 || !last.startsWith("{")) return { variant: null, error: (r.stderr || r.stdout).trim().split("\n").slice(-3).join(" ") };
    return JSON.parse(last);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const argv = process.argv.slice(2);
const dash = argv.indexOf("--");
const own = dash < 0 ? argv : argv.slice(0, dash);
const command = dash < 0 ? [] : argv.slice(dash + 1);
if (own.includes("--help") || own.includes("-h")) {
  console.log(readFileHead());
  process.exit(0);
}
if (PLATFORM !== "linux-x64") fail(`ggml CPU variants are an x86-64 Linux matter; this is ${PLATFORM}`);
const bins = binsDir(ROOT);
if (!existsSync(bins)) fail(`${bins} is missing: install the devDependencies (npm install)`);
const shipped = variantsIn(bins);
const variant = own.find((a) => !a.startsWith("--"));

if (variant === undefined) {
  const { variant: loaded, error } = loadedVariant(ROOT);
  console.log(`ggml CPU variants shipped with node-llama-cpp: ${shipped.join(", ")}`);
  console.log(loaded ? `this CPU loads: ${loaded}` : `llama.cpp loaded no CPU variant here (${error ?? "no log line"})`);
  process.exit(0);
}
if (!shipped.includes(variant)) fail(`no variant ${variant}; shipped: ${shipped.join(", ")}`, 2);
if (command.length === 0) fail("give a command after --", 2);

const work = mkdtempSync(join(tmpdir(), `shortgpt-llama-${variant}-`));
let status = 1;
try {
  status = runInCopy(work, variant, command);
} catch (error) {
  console.error(`llama-cpu-variant: ${error.message}`);
  status = error.exitCode ?? 1;
} finally {
  if (own.includes("--keep")) console.error(`llama-cpu-variant: kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
process.exit(status);

function runInCopy(work, variant, command) {
  const copy = join(work, "repo");
  mkdirSync(copy);
  // Hard-linked copy of the checkout (no .git; no vitest cache, which vitest rewrites in place).
  const entries = readdirSync(ROOT).filter((e) => e !== ".git");
  const link = spawnSync("cp", ["-al", ...entries.map((e) => join(ROOT, e)), copy], { encoding: "utf8" });
  if (link.status !== 0) throw new Error(`cp -al failed: ${link.stderr.trim()}`);
  rmSync(join(copy, "node_modules", ".vite"), { recursive: true, force: true });
  if (existsSync(join(ROOT, "..", "shared"))) symlinkSync(realpathSync(join(ROOT, "..", "shared")), join(work, "shared"));
  // Only the chosen variant stays beside the copy's llama-addon.node.
  for (const v of shipped) if (v !== variant) unlinkSync(join(binsDir(copy), `libggml-cpu-${v}.so`));
  const { variant: loaded, error } = loadedVariant(copy);
  if (loaded !== variant) {
    throw Object.assign(new Error(`llama.cpp did not load ${variant} in the copy (${loaded ?? error ?? "none"}): this CPU cannot run it`), { exitCode: 3 });
  }
  console.error(`llama-cpu-variant: llama.cpp loads ${variant} in ${copy}`);
  const run = spawnSync(command[0], command.slice(1), { cwd: copy, stdio: "inherit", env: { ...process.env, SHORTGPT_LLAMA_CPU_VARIANT: variant } });
  return run.status ?? 1;
}

function readFileHead() {
  return [
    "usage: node scripts/llama-cpu-variant.mjs                      list the variants and the one this CPU loads",
    "       node scripts/llama-cpu-variant.mjs <variant> [--keep] -- <command> [args...]",
    "runs <command> in a hard-linked copy of the checkout where llama.cpp can load only <variant>",
  ].join("\n");
}
