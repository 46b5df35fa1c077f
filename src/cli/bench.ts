/**
 * `shortgpt bench <model> [<pruned>]`: what a model costs to run, and with two
 * models what removing blocks bought. For each model: prefill tokens/s (a
 * prompt of --prompt tokens of English text from nlp-corpus, in one batch)
 * and decode tokens/s (--gen tokens, one at a time, greedy), medians of
 * --runs runs, with our engine and with llama.cpp when node-llama-cpp is
 * installed; the peak memory of each (every engine and model runs in a child
 * process of its own, so numbers are not mixed); file size and parameters.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

import type { Command } from "commander";

import { nlpCorpusText } from "../data/nlp-corpus.js";
import { describeDevice } from "../device/describe.js";
import type { DeviceOptions, DeviceReport } from "../device/select.js";
import { addon } from "../engine.js";
import { ShortgptError } from "../errors.js";
import { readGguf } from "../gguf/read.js";
import { summarizeModel } from "../gguf/summary.js";
import { architectureOf, optionalInteger } from "../gguf/metadata.js";
import type { Tokenizer } from "../tokenizer/index.js";
import type { BenchJob, BenchSample } from "./bench-worker.js";
import { action, formatBytes, formatCount, positiveInt, printJson, UsageError } from "./common.js";
import { addDeviceOptions, deviceOptions, type DeviceFlags } from "./device-options.js";
import { terminalSafe } from "./safe-text.js";

interface BenchFlags extends DeviceFlags {
  threads?: number;
  prompt: number;
  gen: number;
  runs: number;
  json?: boolean;
}

/** One engine on one model: medians over the runs. */
export interface EngineBench {
  readonly prefillTokensPerSecond: number;
  readonly decodeTokensPerSecond: number;
  /** Median seconds of the prompt's prefill (its first token included) and of the gen decode steps. */
  readonly prefillSeconds: number;
  readonly decodeSeconds: number;
  /** Peak resident memory of the process that ran it (weights mapped from the page cache included). */
  readonly peakRssBytes: number;
  readonly info: string;
  /** shortgpt: the device the model ran on (llama.cpp always runs on the CPU here). */
  readonly device?: DeviceReport;
}

export interface ModelBench {
  readonly path: string;
  readonly architecture: string;
  readonly blockCount: number;
  readonly parameters: number;
  readonly fileSize: number;
  readonly shortgpt: EngineBench;
  /** null when node-llama-cpp is not installed or could not run the model (see llamaCpp.note). */
  readonly llamaCpp: EngineBench | null;
}

/** `shortgpt bench --json` prints one of these. */
export interface BenchReport {
  readonly settings: {
    readonly threads: number;
    readonly promptTokens: number;
    readonly genTokens: number;
    readonly runs: number;
    readonly text: string;
    /** The device shortgpt was asked to run on ("cpu" unless given). */
    readonly device: string;
  };
  readonly llamaCpp: { readonly available: boolean; readonly note: string | null };
  readonly models: readonly ModelBench[];
  /** Second model relative to the first (with two models): speeds as ratios (> 1 = faster), sizes as fractions kept. */
  readonly comparison: {
    readonly shortgpt: { readonly prefill: number; readonly decode: number; readonly peakRss: number };
    readonly llamaCpp: { readonly prefill: number; readonly decode: number; readonly peakRss: number } | null;
    readonly fileSize: number;
    readonly parameters: number;
    readonly blocks: number;
  } | null;
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The first `count` tokens of nlp-corpus text through the model's tokenizer (BOS first where it adds one). */
export function benchPrompt(tokenizer: Tokenizer, count: number): number[] {
  const bos = tokenizer.addBos && tokenizer.special.bos !== null ? [tokenizer.special.bos] : [];
  // English runs ~4 characters per token; ask for more until the text is long enough.
  for (let chars = count * 6 + 1000; ; chars *= 2) {
    const text = nlpCorpusText({ maxCharacters: chars }).text;
    const ids = [...bos, ...tokenizer.encode(text, { addSpecial: false })];
    if (ids.length >= count) return ids.slice(0, count);
    if (text.length < chars) throw new ShortgptError("ERR_TEXT_TOO_SHORT", `nlp-corpus gives only ${ids.length} tokens; ask for fewer`);
  }
}

/** Whether node-llama-cpp can be found from here (it is optional: a devDependency, not a dependency). */
function llamaCppResolvable(): boolean {
  try {
    import.meta.resolve("node-llama-cpp");
    return true;
  } catch {
    return false;
  }
}

/** Runs one job in a child process; rejects with the child's last stderr lines on failure. */
function runWorker(job: BenchJob, signal: AbortSignal): Promise<BenchSample> {
  const worker = fileURLToPath(new URL("./bench-worker.js", import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [worker], { stdio: ["pipe", "pipe", "pipe"], signal });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      const last = stdout.trim().split("\n").pop() ?? "";
      if (code === 0 && last.startsWith("{")) {
        resolve(JSON.parse(last) as BenchSample);
      } else {
        const why = stderr.trim().split("\n").slice(-3).join(" ").slice(0, 400) || `exit code ${String(code)}`;
        reject(new ShortgptError("ERR_BENCH_WORKER", `${job.engine} on ${job.model}: ${why}`));
      }
    });
    child.stdin.end(JSON.stringify(job));
  });
}

function summarize(sample: BenchSample, promptTokens: number, gen: number): EngineBench {
  const prefill = median(sample.prefillSeconds);
  const decode = median(sample.decodeSeconds);
  return {
    prefillTokensPerSecond: promptTokens / prefill,
    decodeTokensPerSecond: gen / decode,
    prefillSeconds: prefill,
    decodeSeconds: decode,
    peakRssBytes: sample.peakRssBytes,
    info: sample.info,
    ...(sample.device ? { device: sample.device } : {}),
  };
}

export interface BenchOptions {
  threads: number;
  prompt: number;
  gen: number;
  runs: number;
  signal: AbortSignal;
  /** Where shortgpt runs the models (default the CPU); llama.cpp runs on the CPU. */
  device?: DeviceOptions;
  log?: (line: string) => void;
}

/** Measures one or two models (the second usually the first with blocks removed). */
export async function benchModels(paths: readonly string[], options: BenchOptions): Promise<BenchReport> {
  const { loadTokenizer } = await import("../tokenizer/index.js");
  const log = options.log ?? (() => {});
  const llamaAvailable = llamaCppResolvable();
  const notes: string[] = llamaAvailable ? [] : ["node-llama-cpp is not installed (npm install node-llama-cpp to compare with llama.cpp)"];
  const models: ModelBench[] = [];
  for (const path of paths) {
    const file = readGguf(path);
    const summary = summarizeModel(file);
    const context = optionalInteger(file, `${architectureOf(file)}.context_length`);
    if (context !== undefined && options.prompt + options.gen + 1 > context) {
      throw new UsageError(`${path}: --prompt ${options.prompt} plus --gen ${options.gen} does not fit in the model's context of ${context} tokens`);
    }
    const prompt = benchPrompt(loadTokenizer(file), options.prompt);
    const job = (engine: BenchJob["engine"]): BenchJob => ({
      engine,
      model: path,
      threads: options.threads,
      prompt,
      gen: options.gen,
      runs: options.runs,
      ...(engine === "shortgpt" && options.device ? { device: options.device } : {}),
    });
    log(`${path}: shortgpt, ${options.runs} runs`);
    const ours = summarize(await runWorker(job("shortgpt"), options.signal), prompt.length, options.gen);
    let theirs: EngineBench | null = null;
    if (llamaAvailable) {
      log(`${path}: llama.cpp, ${options.runs} runs`);
      try {
        theirs = summarize(await runWorker(job("llama.cpp"), options.signal), prompt.length, options.gen);
      } catch (error) {
        if (options.signal.aborted) throw error;
        notes.push(`llama.cpp could not run ${path}: ${(error as Error).message}`);
      }
    }
    models.push({
      path,
      architecture: summary.architecture,
      blockCount: summary.blockCount,
      parameters: summary.parameters,
      fileSize: summary.fileSize,
      shortgpt: ours,
      llamaCpp: theirs,
    });
  }
  const [a, b] = models;
  const ratios = (x: EngineBench, y: EngineBench) => ({
    prefill: y.prefillTokensPerSecond / x.prefillTokensPerSecond,
    decode: y.decodeTokensPerSecond / x.decodeTokensPerSecond,
    peakRss: y.peakRssBytes / x.peakRssBytes,
  });
  return {
    settings: {
      threads: options.threads,
      promptTokens: options.prompt,
      genTokens: options.gen,
      runs: options.runs,
      text: "English text from nlp-corpus",
      device: options.device?.device === "cuda" && options.device.deviceIndex !== undefined ? `cuda:${options.device.deviceIndex}` : (options.device?.device ?? "cpu"),
    },
    llamaCpp: { available: llamaAvailable, note: notes.length > 0 ? notes.join("; ") : null },
    models,
    comparison:
      a && b
        ? {
            shortgpt: ratios(a.shortgpt, b.shortgpt),
            llamaCpp: a.llamaCpp && b.llamaCpp ? ratios(a.llamaCpp, b.llamaCpp) : null,
            fileSize: b.fileSize / a.fileSize,
            parameters: b.parameters / a.parameters,
            blocks: b.blockCount / a.blockCount,
          }
        : null,
  };
}

/** Left-aligned first column, right-aligned others. */
function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ").trimEnd()).join("\n");
}

export function renderBench(report: BenchReport): string {
  const s = report.settings;
  const lines: string[] = [];
  lines.push(`${s.promptTokens}-token prompt (${s.text}), ${s.genTokens} generated tokens, ${s.threads} thread${s.threads === 1 ? "" : "s"}, median of ${s.runs} runs`);
  lines.push("");
  const rows: string[][] = [["model", "blocks", "params", "file", "engine", "prefill tok/s", "decode tok/s", "peak RSS"]];
  for (const m of report.models) {
    const name = m.path.split(/[\\/]/).pop()!;
    const engines: [string, EngineBench | null][] = [["shortgpt", m.shortgpt]];
    if (report.llamaCpp.available) engines.push(["llama.cpp", m.llamaCpp]);
    engines.forEach(([engine, e], i) => {
      const first = i === 0;
      rows.push([
        first ? name : "",
        first ? String(m.blockCount) : "",
        first ? formatCount(m.parameters) : "",
        first ? formatBytes(m.fileSize) : "",
        engine,
        e ? e.prefillTokensPerSecond.toFixed(1) : "—",
        e ? e.decodeTokensPerSecond.toFixed(1) : "—",
        e ? formatBytes(e.peakRssBytes) : "—",
      ]);
    });
  }
  lines.push(table(rows));
  const device = report.models[0]?.shortgpt.device;
  if (device) lines.push("", `shortgpt ran on ${terminalSafe(describeDevice(device))}${report.llamaCpp.available ? "; llama.cpp on the CPU" : ""}`);
  const c = report.comparison;
  if (c) {
    const x = (r: number) => `${r.toFixed(2)}×`;
    const pct = (r: number) => `${((1 - r) * 100).toFixed(1)}% smaller`;
    lines.push("");
    lines.push(
      `second vs first model: ${report.models[1]!.blockCount} of ${report.models[0]!.blockCount} blocks, file ${pct(c.fileSize)}, parameters ${pct(c.parameters)}`,
    );
    lines.push(`  shortgpt:  prefill ${x(c.shortgpt.prefill)}, decode ${x(c.shortgpt.decode)} as fast; peak RSS ${x(c.shortgpt.peakRss)}`);
    if (c.llamaCpp) lines.push(`  llama.cpp: prefill ${x(c.llamaCpp.prefill)}, decode ${x(c.llamaCpp.decode)} as fast; peak RSS ${x(c.llamaCpp.peakRss)}`);
  }
  if (report.llamaCpp.note) lines.push("", `note: ${report.llamaCpp.note}`);
  return lines.join("\n");
}

export function registerBench(program: Command): void {
  const command = program
    .command("bench")
    .description("prefill and decode speed, peak memory, size and parameters of a model (and a pruned one), with llama.cpp beside it when node-llama-cpp is installed")
    .argument("<model>", "GGUF model file")
    .argument("[pruned]", "a second model, usually <model> with blocks removed: its speed-up is reported")
    .option("--threads <n>", "threads for both engines (default: one per physical core)", positiveInt("--threads"))
    .option("--prompt <n>", "prompt tokens (English text from nlp-corpus)", positiveInt("--prompt"), 512)
    .option("--gen <n>", "tokens to decode after the prompt", positiveInt("--gen"), 64)
    .option("--runs <n>", "timed runs per engine and model (after one warm-up); medians are reported", positiveInt("--runs"), 5)
    .option("--json", "print one JSON object instead of the table");
  addDeviceOptions(command)
    .addHelpText(
      "after",
      `
Prefill: the prompt through the model in one batch and its first token (time to
first token). Decode: --gen more tokens, one at a time, greedy, end-of-text
ignored. Each engine and model runs in a child process of its own; peak RSS is
that process's (weights are memory-mapped, so they count once touched).

Examples:
  shortgpt bench model.gguf
  shortgpt bench model.gguf model-pruned.gguf --threads 4 --runs 3 --json`,
    )
    .action(
      action(async (ctx, model: string, pruned: string | undefined, flags: BenchFlags) => {
        const threads = flags.threads ?? addon().kernels.physicalCores();
        const paths = pruned ? [model, pruned] : [model];
        const report = await benchModels(paths, {
          threads,
          prompt: flags.prompt,
          gen: flags.gen,
          runs: flags.runs,
          signal: ctx.signal,
          device: deviceOptions(flags),
          log: (line) => process.stderr.write(`bench: ${line}\n`),
        });
        if (flags.json) printJson(report);
        else process.stdout.write(`${renderBench(report)}\n`);
      }),
    );
}
