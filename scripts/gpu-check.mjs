#!/usr/bin/env node
// `npm run gpu-check` (scripts/gpu-check.sh finds or unpacks a Node.js, then runs this): the
// one prepared check for a machine with a GPU. It needs no network: the models are made here
// with the project's own GGUF writer (random weights, real shapes: one small model per
// architecture the engine runs, in several formats, and a Llama-3.1-8B-shaped Q4_K_M), plus
// stories260K when it is at hand.
//
// First each CUDA kernel against its CPU reference (scripts/gpu-check/cuda-kernels.mjs, the list
// test/cuda-kernels.test.ts runs). Then, on each model, the CUDA engine against the CPU engine on
// the same file:
//   - every block's Block Influence within 1e-3 (absolute),
//   - the same order of the lowest-BI quarter of the blocks,
//   - perplexity within 0.2 %,
//   - the same greedy (argmax) token at >= 95 % of positions.
// Then the 8B-shaped model is benchmarked: scoring 64 x 256 tokens and a 512-token prefill on
// CUDA, on the CPU engine (a subset of the windows, scaled), and with PyTorch on the same GPU
// (scripts/gpu-check/torch_bi.py: HF transformers, output_hidden_states, BI as the ShortGPT
// reference code computes it), with peak GPU memory. Aims (reported, not failing the run unless
// --strict-aims): 8B scoring <= 2 s, faster than PyTorch, peak GPU memory <= weights + 1 GiB.
//
// Every phase has a time limit and results are written as they come (gpu-check.json and
// gpu-check.md in --out, default $OUT or ./gpu-check-out), so a run cut short still reports.
// Exit 0: every check passed; 1: a check failed or a phase broke; 3: no usable CUDA (the
// reason is in the summary). --cpu-only runs everything with a second CPU engine in place of
// CUDA and a smaller stand-in for the 8B model (--big 8b to keep it): a dry run for machines
// without a GPU, so that on a GPU only the CUDA parts are new.
//
//   node scripts/gpu-check.mjs [--cpu-only] [--out DIR] [--work DIR] [--root DIR] [--big 8b|mini|none]
//                              [--skip-torch] [--time-limit SECONDS] [--strict-aims]
//   node scripts/gpu-check.mjs --write-benchmarks gpu-check.json     (docs/BENCHMARKS.md section)
//
// --root is the package whose dist/ and addons run (default: the bundle that
// `npm run gpu-check:prepare` made in .gpu-check/pkg, else this checkout).
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values: args } = parseArgs({
  options: {
    "cpu-only": { type: "boolean" },
    out: { type: "string" },
    work: { type: "string" },
    root: { type: "string" },
    big: { type: "string" },
    "skip-torch": { type: "boolean" },
    "time-limit": { type: "string" },
    "strict-aims": { type: "boolean" },
    "write-benchmarks": { type: "string" },
    help: { type: "boolean" },
  },
});
if (args.help) {
  console.log(readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n").slice(1, 33).map((l) => l.replace(/^\/\/ ?/, "")).join("\n"));
  process.exit(0);
}

/** The tolerances of the issue's checks. */
const TOLERANCE = {
  /** BI is 1 - mean cos over thousands of rows: backends that agree to ~1e-3 relative per row agree far closer than this. */
  biAbs: 1e-3,
  /** Perplexity: a relative difference, llama.cpp's own CPU/GPU spread is of this order. */
  perplexityRel: 0.002,
  /** Share of positions whose argmax token must agree (near-ties flip under last-bit differences). */
  greedy: 0.95,
};
const GIB = 2 ** 30;

if (args["write-benchmarks"]) {
  writeBenchmarksSection(JSON.parse(readFileSync(args["write-benchmarks"], "utf8")));
  process.exit(0);
}

const cpuOnly = Boolean(args["cpu-only"]);
const bundle = join(repo, ".gpu-check", "pkg");
const root = resolve(args.root ?? (existsSync(join(bundle, "dist")) ? bundle : repo));
const outDir = resolve(args.out ?? process.env.OUT ?? "gpu-check-out");
const work = resolve(args.work ?? join(os.tmpdir(), "shortgpt-gpu-check"));
const timeLimit = Number(args["time-limit"] ?? 450);
const big = args.big ?? (cpuOnly ? "mini" : "8b");
if (!["8b", "mini", "none"].includes(big)) fail(`--big must be 8b, mini or none, got ${big}`);
mkdirSync(outDir, { recursive: true });
mkdirSync(work, { recursive: true });

const started = performance.now();
const elapsed = () => (performance.now() - started) / 1000;
const log = (line) => console.error(`gpu-check [${elapsed().toFixed(0).padStart(3)} s] ${line}`);
function fail(message) {
  console.error(`gpu-check: ${message}`);
  process.exit(2);
}

const dist = async (module) => import(pathToFileURL(join(root, "dist", module)).href);
if (!existsSync(join(root, "dist", "model.js"))) fail(`${root}/dist is missing: run \`npm run build\` (or \`npm run gpu-check:prepare\` for a bundle)`);
const { openModel } = await dist("model.js");
const { blockInfluenceOf } = await dist("evaluate/hidden-stats.js");
const { addon: cpuAddon, cudaAddon } = await dist("engine.js");
const { pipCublasFolders } = await dist("device/cublas.js");
const { describeDevice } = await dist("device/describe.js");
const { writeRandomModel, SMALL_RANDOM_MODELS, LLAMA3_8B_Q4_K_M } = await dist("models/random-model.js");

// ---------------------------------------------------------------- results, written as they come

const result = {
  startedAt: new Date().toISOString(),
  mode: cpuOnly ? "cpu-only (dry run: a second CPU engine stands in for CUDA)" : "cuda",
  root,
  tolerances: TOLERANCE,
  machine: machine(),
  cuda: null,
  phases: [],
  kernels: null,
  models: [],
  bench: null,
  failures: [],
  aimsMissed: [],
  done: false,
};

function machine() {
  const smi = spawnSync("nvidia-smi", ["--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"], { encoding: "utf8", timeout: 20_000 });
  return {
    node: process.version,
    cpu: os.cpus()[0]?.model ?? "unknown",
    logicalCores: os.cpus().length,
    memoryBytes: os.totalmem(),
    loadAverage: os.loadavg(),
    nvidiaSmi: smi.status === 0 ? smi.stdout.trim() : null,
  };
}

function save() {
  for (const [name, text] of [
    ["gpu-check.json", `${JSON.stringify(result, null, 2)}\n`],
    ["gpu-check.md", markdown(result)],
  ]) {
    const path = join(outDir, name);
    writeFileSync(`${path}.tmp`, text);
    renameSync(`${path}.tmp`, path);
  }
}

/** Runs one phase with its own time limit (an AbortSignal for engine calls); records its outcome. */
async function phase(name, budgetSeconds, body) {
  const budget = Math.min(budgetSeconds, timeLimit - elapsed() - 5);
  const entry = { name, status: "running", seconds: 0 };
  result.phases.push(entry);
  if (budget < 5) {
    Object.assign(entry, { status: "skipped", reason: `no time left (limit ${timeLimit} s)` });
    log(`${name}: skipped, no time left`);
    save();
    return undefined;
  }
  log(`${name} (up to ${budget.toFixed(0)} s)`);
  const t0 = performance.now();
  const controller = new AbortController();
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      // Engine calls stop between blocks; a call stuck inside one is left behind.
      setTimeout(() => reject(new Error(`timed out after ${budget.toFixed(0)} s`)), 20_000).unref();
    }, budget * 1000);
  });
  try {
    const value = await Promise.race([body(controller.signal), timeout]);
    entry.status = "done";
    return value;
  } catch (error) {
    entry.status = controller.signal.aborted ? "timeout" : "error";
    entry.error = `${error?.code ? `[${error.code}] ` : ""}${error?.message ?? String(error)}`;
    result.failures.push(`${name}: ${entry.error}`);
    log(`${name}: ${entry.status}: ${entry.error}`);
    return undefined;
  } finally {
    clearTimeout(timer);
    entry.seconds = (performance.now() - t0) / 1000;
    save();
  }
}

// ---------------------------------------------------------------- inputs

/** Deterministic token ids in [first, vocab): the same on every machine. */
function tokenIds(count, vocab, seed, first = 0) {
  const ids = new Int32Array(count);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    ids[i] = first + (s % (vocab - first));
  }
  return ids;
}

function windowsOf(ids, ctx) {
  return Array.from({ length: ids.length / ctx }, (_, w) => ids.subarray(w * ctx, (w + 1) * ctx));
}

function argmaxRows(logits, vocab) {
  const rows = logits.length / vocab;
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    const base = r * vocab;
    for (let i = 1; i < vocab; i++) if (logits[base + i] > logits[base + best]) best = i;
    out[r] = best;
  }
  return out;
}

/** Block indices from lowest BI (ties: lower index first). */
function lowestOrder(bi, k) {
  return bi
    .map((v, i) => [v, i])
    .sort((a, b) => a[0] - b[0] || a[1] - b[1])
    .slice(0, k)
    .map(([, i]) => i);
}

// ---------------------------------------------------------------- the engines

/**
 * The engine under test. Its work buffers may hold a full 2048-token batch (about 780 MB for the
 * 8B shape, per the CUDA backend's notes): the default 512 MiB budget would split batches.
 */
const GPU_MEMORY_BUDGET = GIB;
function gpuOptions() {
  return cpuOnly ? { device: "cpu" } : { device: "cuda", memoryBudget: GPU_MEMORY_BUDGET };
}

async function timed(fn) {
  const t0 = performance.now();
  const value = await fn();
  return { value, seconds: (performance.now() - t0) / 1000 };
}

/**
 * CUDA vs CPU on one file: Block Influence over `windows` (each from position 0), greedy
 * agreement over every position of the same windows, perplexity over `pplIds` in chunks of
 * `pplCtx` (at most `pplChunks`).
 */
async function compareEngines(entry, path, { vocab, windows, pplIds, pplCtx, pplChunks, bos }, signal) {
  const cpu = await openModel(path, { device: "cpu" });
  let gpu;
  try {
    const opened = await timed(() => openModel(path, gpuOptions()));
    gpu = opened.value;
    entry.device = gpu.device;
    entry.openSeconds = opened.seconds;
    const run = async (label, fn) => {
      const c = await timed(() => fn(cpu));
      const g = await timed(() => fn(gpu));
      entry.timings[label] = { cpu: c.seconds, gpu: g.seconds };
      return [c.value, g.value];
    };
    const [sc, sg] = await run("hiddenStats", (m) => m.hiddenStats(windows, { signal }));
    const biCpu = blockInfluenceOf(sc);
    const biGpu = blockInfluenceOf(sg);
    const maxAbs = Math.max(...biCpu.map((v, i) => Math.abs(v - biGpu[i])));
    const finite = biGpu.every(Number.isFinite);
    entry.checks.bi = { cpu: biCpu, gpu: biGpu, maxAbsDiff: maxAbs, pass: finite && maxAbs <= TOLERANCE.biAbs };
    const k = Math.max(1, Math.floor(biCpu.length / 4));
    const oc = lowestOrder(biCpu, k);
    const og = lowestOrder(biGpu, k);
    entry.checks.lowestQuarter = { cpu: oc, gpu: og, pass: oc.every((v, i) => v === og[i]) };

    const [pc, pg] = await run("perplexity", (m) => m.perplexity({ tokens: pplIds, bos }, { ctx: pplCtx, ...(pplChunks ? { chunks: pplChunks } : {}), signal }));
    const rel = Math.abs(pg.perplexity - pc.perplexity) / pc.perplexity;
    entry.checks.perplexity = { cpu: pc.perplexity, gpu: pg.perplexity, chunks: pc.chunks, relDiff: rel, pass: Number.isFinite(pg.perplexity) && rel <= TOLERANCE.perplexityRel };

    // Argmax per position, window by window (a window's logits at once: vocab x ctx floats).
    const argmaxes = async (m) => {
      const out = [];
      for (const w of windows) out.push(...argmaxRows(await m.logits(w, { signal }), vocab));
      return out;
    };
    const [ac, ag] = await run("logits", argmaxes);
    let agree = 0;
    for (let i = 0; i < ac.length; i++) if (ac[i] === ag[i]) agree++;
    entry.checks.greedy = { agree, positions: ac.length, rate: agree / ac.length, pass: agree / ac.length >= TOLERANCE.greedy };
    if (gpu.info.peakDeviceBytes !== undefined) entry.peakDeviceBytes = gpu.info.peakDeviceBytes;
  } finally {
    cpu.close();
    gpu?.close();
  }
  for (const [name, check] of Object.entries(entry.checks)) {
    if (!check.pass) result.failures.push(`${entry.name}: ${name} check failed (${JSON.stringify({ ...check, cpu: undefined, gpu: undefined })})`);
  }
  return entry;
}

// ---------------------------------------------------------------- 1. what CUDA sees

await phase("cuda: addon, devices, cuBLAS", 60, async () => {
  const info = { cublasFromPip: pipCublasFolders(), cublasEnv: process.env.SHORTGPT_CUBLAS_PATH ?? null };
  try {
    const { addon, path } = cudaAddon();
    Object.assign(info, { addon: path, status: addon.cudaDevices() });
  } catch (error) {
    info.error = error.message;
  }
  result.cuda = info;
  log(`CUDA: ${info.error ?? info.status?.error ?? `${info.status?.devices.length} device(s): ${info.status?.devices.map((d) => `${d.name} (sm_${d.computeCapability}, runs kernels: ${d.runsKernels})`).join(", ")}`}`);
  if (!cpuOnly) {
    const usable = info.status && info.status.error === null && info.status.devices.some((d) => d.runsKernels);
    if (!usable) {
      result.noCuda = info.error ?? info.status?.error ?? "no device ran the probe kernel";
      throw new Error(`no usable CUDA: ${result.noCuda}`);
    }
  }
});
if (result.noCuda) finish();

// ---------------------------------------------------------------- 2. each kernel vs its CPU reference

if (cpuOnly) {
  result.phases.push({ name: "kernels: each CUDA kernel vs its CPU reference", status: "skipped", reason: "needs the CUDA addon's kernels on a GPU (test/cuda-kernels.test.ts runs them)" });
} else {
  await phase("kernels: each CUDA kernel vs its CPU reference", 120, async () => {
    const { cudaKernelChecks } = await import(pathToFileURL(join(repo, "scripts", "gpu-check", "cuda-kernels.mjs")).href);
    const cuda = cudaAddon().addon.cudaKernels;
    if (!cuda) throw new Error("this CUDA addon has no cudaKernels");
    const checks = [];
    result.kernels = checks;
    for (const check of cudaKernelChecks({ cpu: cpuAddon().kernels, cuda, random: await dist("models/random-blocks.js") })) {
      let outcome;
      try {
        outcome = check.run();
      } catch (error) {
        outcome = { ok: false, detail: `${error?.code ? `[${error.code}] ` : ""}${error?.message ?? String(error)}` };
      }
      checks.push({ name: check.name, ok: outcome.ok, detail: outcome.detail });
      if (!outcome.ok) result.failures.push(`kernel ${check.name}: ${outcome.detail}`);
    }
    log(`kernels: ${checks.filter((c) => c.ok).length} of ${checks.length} pass`);
  });
}

// ---------------------------------------------------------------- 3. small models, every architecture

const smallCtx = 256;
for (const spec of SMALL_RANDOM_MODELS) {
  await phase(`small: ${spec.name}`, 60, async (signal) => {
    const path = join(work, `${spec.name}.gguf`);
    const made = writeRandomModel(spec, path);
    const entry = { name: spec.name, architecture: spec.architecture, fileBytes: made.fileSize, checks: {}, timings: { write: made.seconds } };
    result.models.push(entry);
    // Ids from 1: no model here treats 0 specially, and BOS-less windows are what they are.
    const ids = tokenIds(4 * smallCtx, spec.vocab, spec.seed ?? 1);
    await compareEngines(entry, path, { vocab: spec.vocab, windows: windowsOf(ids, smallCtx), pplIds: ids, pplCtx: smallCtx, bos: null }, signal);
    log(`${spec.name}: ${summaryLine(entry)}`);
    rmSync(path, { force: true });
  });
}

// stories260K: a real (tiny) model with its own tokenizer, on real text.
const storiesPath = [join(repo, ".gpu-check", "stories260K.gguf"), join(repo, "..", "shared", "data", "models", "stories260K.gguf")].find((p) => existsSync(p));
const textPath = [join(repo, ".gpu-check", "calibration.txt"), join(repo, "..", "shared", "data", "text", "pg", "pg11.txt")].find((p) => existsSync(p));
if (storiesPath && textPath) {
  await phase("small: stories260K", 60, async (signal) => {
    const entry = { name: "stories260K", architecture: "llama", fileBytes: readFileSync(storiesPath).length, checks: {}, timings: {} };
    result.models.push(entry);
    const probe = await openModel(storiesPath, { device: "cpu" });
    const tok = probe.tokenizer;
    const ids = Int32Array.from(tok.encode(readFileSync(textPath, "utf8").slice(0, 60_000), { addSpecial: false }));
    probe.close();
    const ctx = 256;
    const windows = windowsOf(ids.subarray(0, 4 * ctx), ctx).map((w) => Int32Array.from([tok.special.bos, ...w.subarray(1)]));
    await compareEngines(entry, storiesPath, { vocab: 512, windows, pplIds: ids.subarray(0, 8 * ctx), pplCtx: ctx, bos: tok.special.bos }, signal);
    log(`stories260K: ${summaryLine(entry)}`);
  });
} else {
  result.phases.push({ name: "small: stories260K", status: "skipped", reason: "stories260K.gguf or its text is not at hand (.gpu-check/ or ../shared/data)" });
}

// ---------------------------------------------------------------- 4. the 8B-shaped model: checks and speed

/** A stand-in for the dry run: the 8B's architecture and formats at a size a laptop runs in seconds. */
const MINI = { ...LLAMA3_8B_Q4_K_M, name: "random Llama-3 shape, mini, Q4_K_M", embd: 1024, blocks: 8, heads: 8, headsKv: 2, ff: 3584, vocab: 32000 };

if (big !== "none") {
  const spec = big === "8b" ? LLAMA3_8B_Q4_K_M : MINI;
  const path = join(work, big === "8b" ? "llama3-8b-q4_k_m.gguf" : "llama3-mini-q4_k_m.gguf");
  // The dry run scores fewer windows: the stand-in engine is a CPU.
  const W = cpuOnly ? 8 : 64;
  const ctx = 256;
  const calib = tokenIds(W * ctx, spec.vocab, 8081);
  const prompt = tokenIds(512, spec.vocab, 8082);
  const pplIds = tokenIds(1024, spec.vocab, 8083);
  const bench = { model: spec.name, windows: W, ctx, file: null, cuda: {}, cpu: {}, torch: null, aims: {} };
  result.bench = bench;

  const made = await phase(`big: write ${spec.name}`, 120, async () => {
    const r = writeRandomModel(spec, path);
    bench.file = { bytes: r.fileSize, tensorBytes: r.tensorBytes, writeSeconds: r.seconds };
    log(`wrote ${path}: ${(r.fileSize / GIB).toFixed(2)} GiB in ${r.seconds.toFixed(1)} s`);
    return r;
  });

  if (made) {
    // CPU reference on the first windows only (the 8B on a CPU takes seconds per window).
    const cpuWindows = big === "8b" ? 2 : 4;
    const entry = { name: `${spec.name} (first ${cpuWindows} windows)`, architecture: "llama", fileBytes: made.fileSize, checks: {}, timings: {} };
    await phase("big: CUDA vs CPU", 200, async (signal) => {
      result.models.push(entry);
      await compareEngines(
        entry,
        path,
        { vocab: spec.vocab, windows: windowsOf(calib.subarray(0, cpuWindows * ctx), ctx), pplIds, pplCtx: 512, pplChunks: 1, bos: null },
        signal,
      );
      bench.cpu.scoreSeconds = entry.timings.hiddenStats.cpu;
      bench.cpu.scoreWindows = cpuWindows;
      bench.cpu.scoreSecondsScaled = (entry.timings.hiddenStats.cpu * W) / cpuWindows;
      log(`${entry.name}: ${summaryLine(entry)}`);
    });

    await phase("big: speed on CUDA", 120, async (signal) => {
      const opened = await timed(() => openModel(path, gpuOptions()));
      const m = opened.value;
      try {
        bench.cuda.openSeconds = opened.seconds;
        bench.cuda.memoryBudget = cpuOnly ? null : GPU_MEMORY_BUDGET;
        bench.cuda.device = m.device;
        const windows = windowsOf(calib, ctx);
        const score = [];
        for (let r = 0; r < 3; r++) score.push((await timed(() => m.hiddenStats(windows, { signal }))).seconds);
        bench.cuda.scoreSeconds = score;
        bench.cuda.scoreSecondsWarm = Math.min(...score.slice(1));
        const prefill = [];
        for (let r = 0; r < 4; r++) prefill.push((await m.generate(prompt, { maxTokens: 1, ignoreEos: true, signal })).prefillSeconds);
        bench.cuda.prefill512Seconds = prefill;
        bench.cuda.prefill512SecondsMedian = median(prefill.slice(1));
        bench.cuda.peakDeviceBytes = m.info.peakDeviceBytes ?? null;
        bench.cuda.info = m.info;
      } finally {
        m.close();
      }
      log(`CUDA: score ${W}x${ctx} ${bench.cuda.scoreSeconds.map((s) => s.toFixed(3)).join(", ")} s; prefill 512 ${(bench.cuda.prefill512SecondsMedian * 1000).toFixed(1)} ms`);
    });

    await phase("big: prefill on the CPU", 90, async (signal) => {
      const m = await openModel(path, { device: "cpu" });
      try {
        const r = await m.generate(prompt, { maxTokens: 1, ignoreEos: true, signal });
        bench.cpu.prefill512Seconds = r.prefillSeconds;
        bench.cpu.threads = m.info.threads;
      } finally {
        m.close();
      }
    });

    if (!args["skip-torch"] && !cpuOnly && big === "8b") {
      await phase("big: PyTorch (HF transformers) on the same GPU", 180, async (signal) => {
        const idsFile = join(work, "torch-ids.bin");
        const all = new Int32Array(W * ctx + 512);
        all.set(calib, 0);
        all.set(prompt, W * ctx);
        writeFileSync(idsFile, all);
        const out = join(work, "torch.json");
        rmSync(out, { force: true });
        const code = await runChild("python3", [join(repo, "scripts", "gpu-check", "torch_bi.py"), "--ids", idsFile, "--windows", String(W), "--ctx", String(ctx), "--prompt", "512", "--out", out], signal);
        if (existsSync(out)) bench.torch = JSON.parse(readFileSync(out, "utf8"));
        if (code !== 0) throw new Error(`torch_bi.py exited with ${code}${bench.torch?.error ? `: ${bench.torch.error}` : ""}`);
        for (const k of ["reference", "rowwise"]) if (bench.torch.score?.[k]) delete bench.torch.score[k].bi;
      });
    }
    rmSync(path, { force: true });

    // Aims (the issue's targets for the 8B shape on one H100).
    const aims = bench.aims;
    if (bench.cuda.scoreSecondsWarm !== undefined && big === "8b" && !cpuOnly) aims.score64x256UnderTwoSeconds = { value: bench.cuda.scoreSecondsWarm, met: bench.cuda.scoreSecondsWarm <= 2 };
    if (bench.torch?.score?.rowwise && bench.cuda.scoreSecondsWarm !== undefined) {
      aims.fasterThanPyTorch = { ours: bench.cuda.scoreSecondsWarm, pytorchReference: bench.torch.score.reference?.median ?? null, pytorchRowwise: bench.torch.score.rowwise.median, met: bench.cuda.scoreSecondsWarm < bench.torch.score.rowwise.median };
    }
    if (typeof bench.cuda.peakDeviceBytes === "number" && bench.file) {
      aims.peakVramWithinWeightsPlus1GiB = { peak: bench.cuda.peakDeviceBytes, weights: bench.file.tensorBytes, met: bench.cuda.peakDeviceBytes <= bench.file.tensorBytes + GIB };
    }
    for (const [name, aim] of Object.entries(aims)) if (!aim.met) result.aimsMissed.push(name);
  }
}

finish();

// ---------------------------------------------------------------- helpers

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function runChild(cmd, argv, signal) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, argv, { stdio: ["ignore", "inherit", "inherit"], signal, env: { ...process.env, PYTHONUNBUFFERED: "1" } });
    child.on("error", reject);
    child.on("close", (code) => resolvePromise(code));
  });
}

function summaryLine(entry) {
  const c = entry.checks;
  const parts = [];
  if (c.bi) parts.push(`BI max |Δ| ${c.bi.maxAbsDiff.toExponential(2)}`);
  if (c.lowestQuarter) parts.push(`lowest quarter ${c.lowestQuarter.pass ? "same" : "DIFFERENT"}`);
  if (c.perplexity) parts.push(`ppl ${c.perplexity.cpu.toFixed(3)} vs ${c.perplexity.gpu.toFixed(3)} (${(100 * c.perplexity.relDiff).toFixed(4)} %)`);
  if (c.greedy) parts.push(`greedy ${(100 * c.greedy.rate).toFixed(1)} %`);
  const failed = Object.entries(c).filter(([, v]) => !v.pass).map(([k]) => k);
  return `${parts.join(", ")}${failed.length ? ` -- FAILED: ${failed.join(", ")}` : " -- pass"}`;
}

function finish() {
  result.done = true;
  result.seconds = elapsed();
  save();
  const summary = markdown(result);
  console.log(summary);
  if (result.noCuda) process.exit(3);
  const strictFail = args["strict-aims"] && result.aimsMissed.length > 0;
  process.exit(result.failures.length > 0 || strictFail ? 1 : 0);
}

function fmtSeconds(s) {
  return s === undefined || s === null ? "—" : s < 1 ? `${(s * 1000).toFixed(1)} ms` : `${s.toFixed(2)} s`;
}

function markdown(r) {
  const lines = [];
  lines.push(`# shortgpt gpu-check`, "");
  lines.push(`${r.mode}; started ${r.startedAt}${r.done ? `, finished in ${r.seconds?.toFixed(0)} s` : " (still running or cut short)"}.`);
  const m = r.machine;
  lines.push("", `Machine: ${m.cpu}, ${m.logicalCores} logical cores, ${(m.memoryBytes / GIB).toFixed(0)} GiB RAM, Node ${m.node}; GPU: ${m.nvidiaSmi ?? "nvidia-smi not available"}.`);
  if (r.cuda) {
    const s = r.cuda.status;
    lines.push(`CUDA addon: ${r.cuda.addon ?? r.cuda.error}${s ? ` (runtime ${s.runtimeVersion}, driver ${s.driverVersion}${s.error ? `, ${s.error}` : ""})` : ""}; pip cuBLAS: ${r.cuda.cublasFromPip?.join(", ") || "none"}.`);
  }
  if (r.noCuda) lines.push("", `**No usable CUDA: ${r.noCuda}.** Nothing else ran.`);
  if (r.kernels) {
    const failed = r.kernels.filter((k) => !k.ok);
    lines.push("", "## Kernels vs their CPU references", "", `${r.kernels.length - failed.length} of ${r.kernels.length} checks pass (scripts/gpu-check/cuda-kernels.mjs).`);
    for (const k of failed) lines.push(`- **${k.name}**: ${k.detail}`);
  }
  if (r.models.length > 0) {
    lines.push("", "## CUDA vs CPU on the same file", "");
    lines.push(`Checks: every block's BI within ${TOLERANCE.biAbs} (absolute), the same order of the lowest-BI quarter, perplexity within ${100 * TOLERANCE.perplexityRel} %, greedy (argmax) agreement >= ${100 * TOLERANCE.greedy} %.`, "");
    lines.push("| model | file | BI max abs diff | lowest quarter | perplexity CPU / GPU (rel. diff) | greedy agreement | hiddenStats CPU / GPU | result |");
    lines.push("| --- | ---: | ---: | --- | --- | ---: | --- | --- |");
    for (const e of r.models) {
      const c = e.checks;
      const ok = Object.values(c).length > 0 && Object.values(c).every((x) => x.pass);
      lines.push(
        `| ${e.name} (${e.architecture}) | ${(e.fileBytes / 2 ** 20).toFixed(1)} MiB | ${c.bi ? c.bi.maxAbsDiff.toExponential(2) : "—"} | ${c.lowestQuarter ? `${c.lowestQuarter.pass ? "same" : "differs"}: ${c.lowestQuarter.gpu.join(", ")}` : "—"} | ${c.perplexity ? `${c.perplexity.cpu.toFixed(3)} / ${c.perplexity.gpu.toFixed(3)} (${(100 * c.perplexity.relDiff).toFixed(4)} %)` : "—"} | ${c.greedy ? `${(100 * c.greedy.rate).toFixed(1)} % of ${c.greedy.positions}` : "—"} | ${e.timings?.hiddenStats ? `${fmtSeconds(e.timings.hiddenStats.cpu)} / ${fmtSeconds(e.timings.hiddenStats.gpu)}` : "—"} | ${ok ? "pass" : "**FAIL**"} |`,
      );
    }
  }
  const b = r.bench;
  if (b) {
    lines.push("", `## Speed: ${b.model}`, "");
    if (b.file) lines.push(`File ${(b.file.bytes / GIB).toFixed(2)} GiB (weights ${(b.file.tensorBytes / GIB).toFixed(2)} GiB), written in ${b.file.writeSeconds.toFixed(1)} s.`);
    if (b.cuda.device) lines.push(`shortgpt CUDA on ${describeDevice(b.cuda.device)}; opened in ${fmtSeconds(b.cuda.openSeconds)}${b.cuda.memoryBudget ? `, memoryBudget ${(b.cuda.memoryBudget / GIB).toFixed(0)} GiB` : ""}.`);
    lines.push("", `| | ${r.mode === "cuda" ? "shortgpt CUDA" : "stand-in (a second CPU engine)"} | shortgpt CPU | PyTorch (HF transformers, bf16) |`, "| --- | ---: | ---: | ---: |");
    const t = b.torch;
    const cpuScore = b.cpu.scoreSecondsScaled !== undefined ? `${fmtSeconds(b.cpu.scoreSecondsScaled)} (${b.cpu.scoreWindows} windows measured, scaled)` : "—";
    lines.push(`| score ${b.windows} × ${b.ctx} tokens | ${b.cuda.scoreSeconds ? `${fmtSeconds(b.cuda.scoreSecondsWarm)} (runs: ${b.cuda.scoreSeconds.map(fmtSeconds).join(", ")})` : "—"} | ${cpuScore} | ${t?.score ? `${fmtSeconds(t.score.rowwise?.median)} row-wise BI; ${fmtSeconds(t.score.reference?.median)} with the reference code's BI` : t?.error ?? "—"} |`);
    lines.push(`| prefill 512 tokens | ${b.cuda.prefill512SecondsMedian !== undefined ? fmtSeconds(b.cuda.prefill512SecondsMedian) : "—"} | ${fmtSeconds(b.cpu.prefill512Seconds)}${b.cpu.threads ? ` (${b.cpu.threads} threads)` : ""} | ${t?.prefill ? fmtSeconds(t.prefill.median) : "—"} |`);
    lines.push(`| peak GPU memory | ${typeof b.cuda.peakDeviceBytes === "number" ? `${(b.cuda.peakDeviceBytes / GIB).toFixed(2)} GiB` : "—"} | | ${t?.peakMemoryBytes ? `${(t.peakMemoryBytes / GIB).toFixed(2)} GiB` : "—"} |`);
    if (t?.torch) lines.push("", `PyTorch ${t.torch}, transformers ${t.transformers}, random bf16 weights of the same shape made on the GPU (timing only), the same token ids.`);
    const aims = Object.entries(b.aims ?? {});
    if (aims.length > 0) {
      lines.push("", "Aims:");
      for (const [name, a] of aims) lines.push(`- ${name}: ${a.met ? "met" : "**missed**"} (${JSON.stringify({ ...a, met: undefined })})`);
    }
  }
  lines.push("", "## Phases", "", "| phase | status | seconds |", "| --- | --- | ---: |");
  for (const p of r.phases) lines.push(`| ${p.name} | ${p.status}${p.error ? `: ${p.error}` : p.reason ? `: ${p.reason}` : ""} | ${p.seconds?.toFixed(1) ?? ""} |`);
  lines.push("", r.failures.length === 0 ? (r.done ? "**All checks passed.**" : "") : `**${r.failures.length} failure(s):**\n${r.failures.map((f) => `- ${f}`).join("\n")}`);
  if (r.aimsMissed?.length) lines.push("", `Aims missed: ${r.aimsMissed.join(", ")}.`);
  return `${lines.join("\n")}\n`;
}

/** Writes the GPU section of docs/BENCHMARKS.md from a gpu-check.json brought back from a GPU machine. */
function writeBenchmarksSection(r) {
  if (r.mode !== "cuda" || !r.done) throw new Error("only a finished CUDA run (not --cpu-only) goes into docs/BENCHMARKS.md");
  const docPath = join(repo, "docs", "BENCHMARKS.md");
  const body = markdown(r).replace(/^# shortgpt gpu-check\n\n/, "").replace(/^## /gm, "### ");
  const section = `<!-- bench:gpu:begin -->\n## gpu\n\nWritten by \`node scripts/gpu-check.mjs --write-benchmarks gpu-check.json\` from a \`npm run gpu-check\` run on a GPU machine.\n\n${body.trim()}\n<!-- bench:gpu:end -->`;
  let doc = readFileSync(docPath, "utf8");
  const re = /<!-- bench:gpu:begin -->[\s\S]*?<!-- bench:gpu:end -->/;
  doc = re.test(doc) ? doc.replace(re, section) : `${doc.trimEnd()}\n\n${section}\n`;
  writeFileSync(docPath, doc);
  console.error(`gpu-check: wrote the gpu section of ${docPath}`);
}
