/**
 * `shortgpt bench <model> [<pruned>]`: what a model costs to run, and with two
 * models what removing blocks bought. For each model: prefill tokens/s (a
 * prompt of --prompt tokens of English text from nlp-corpus, in one batch)
 * and decode tokens/s (--gen tokens, one at a time, greedy), with our engine
 * and with llama.cpp when node-llama-cpp is installed; the peak memory of each
 * (every engine and model runs in a child process of its own, so numbers are
 * not mixed); file size and parameters. The processes stay alive and their
 * --runs runs interleave round by round, so a change in the machine's load
 * hits every side alike; medians are reported with their min-max, and a
 * comparison whose rounds disagree too much is flagged (bench-stats.ts).
 */
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface } from "node:readline";
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
import { spawnNode } from "../node-child.js";
import type { Tokenizer } from "../tokenizer/index.js";
import { compareTimes, formatComparison, median, spreadOf, type RatioComparison, type Spread } from "./bench-stats.js";
import type { BenchJob, BenchRun } from "./bench-worker.js";
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

/** One engine on one model: medians over the runs, with their spread. */
export interface EngineBench {
  readonly prefillTokensPerSecond: number;
  readonly decodeTokensPerSecond: number;
  /** Median seconds of the prompt's prefill (its first token included) and of the gen decode steps. */
  readonly prefillSeconds: number;
  readonly decodeSeconds: number;
  /** Min, median and max over the runs. */
  readonly spread: { readonly prefillTokensPerSecond: Spread; readonly decodeTokensPerSecond: Spread };
  /** Every timed run, in round order (run r of every side ran in round r). */
  readonly runs: { readonly prefillSeconds: readonly number[]; readonly decodeSeconds: readonly number[] };
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

/** One engine's second model relative to its first. */
export interface EngineComparison {
  /** Speed ratios of the medians (> 1 = the second model is faster) and the peak RSS ratio. */
  readonly prefill: number;
  readonly decode: number;
  readonly peakRss: number;
  /** The speed ratios round by round: min, median, max. */
  readonly prefillRounds: Spread;
  readonly decodeRounds: Spread;
  /** False where a speed ratio's rounds disagree too much to trust it (the reason is in the report's `warnings`). */
  readonly trusted: { readonly prefill: boolean; readonly decode: boolean };
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
    readonly shortgpt: EngineComparison;
    readonly llamaCpp: EngineComparison | null;
    readonly fileSize: number;
    readonly parameters: number;
    readonly blocks: number;
  } | null;
  /** Every comparison too noisy to trust, in words; empty when all are trusted. */
  readonly warnings: readonly string[];
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

/**
 * One side (engine × model) in a child process of its own (bench-worker.ts): started, warmed
 * up, then asked for one timed run at a time. Failures reject with ERR_BENCH_WORKER and the
 * child's last stderr lines.
 */
class BenchWorker {
  private readonly lines: AsyncIterator<string>;
  private stderr = "";
  private readonly exited: Promise<number | null>;

  private constructor(
    private readonly job: BenchJob,
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly signal: AbortSignal,
  ) {
    this.lines = createInterface({ input: child.stdout, crlfDelay: Infinity })[Symbol.asyncIterator]();
    child.stderr.on("data", (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
    this.exited = new Promise((resolve) => child.on("close", resolve));
    child.on("error", () => {}); // reported by the read that follows, with stderr
    child.stdin.on("error", () => {}); // likewise: a dead worker cannot take a request
  }

  /** Starts a worker and waits until it has loaded the model and done its warm-up run. */
  static async start(job: BenchJob, signal: AbortSignal): Promise<BenchWorker> {
    const script = fileURLToPath(new URL("./bench-worker.js", import.meta.url));
    const worker = new BenchWorker(job, spawnNode(script, [], { stdio: ["pipe", "pipe", "pipe"], signal }) as ChildProcessWithoutNullStreams, signal);
    worker.child.stdin.write(`${JSON.stringify(job)}\n`);
    worker.info = (await worker.read<{ ready: boolean; info: string }>()).info;
    return worker;
  }

  info = "";

  run(): Promise<BenchRun> {
    this.child.stdin.write("run\n");
    return this.read<BenchRun>();
  }

  /** Ends the worker; resolves to its peak RSS (and shortgpt's device, read after the runs). */
  async finish(): Promise<{ peakRssBytes: number; device?: DeviceReport }> {
    this.child.stdin.end("end\n");
    const last = await this.read<{ peakRssBytes: number; device?: DeviceReport }>();
    await this.exited;
    return last;
  }

  kill(): void {
    this.child.kill();
  }

  private async read<T>(): Promise<T> {
    const next = await this.lines.next();
    if (!next.done && next.value.startsWith("{")) return JSON.parse(next.value) as T;
    const code = await this.exited;
    // Killed by the caller's signal: the abort is the reason, not the worker.
    this.signal.throwIfAborted();
    const why = this.stderr.trim().split("\n").slice(-3).join(" ").slice(0, 400) || `exit code ${String(code)}`;
    throw new ShortgptError("ERR_BENCH_WORKER", `${this.job.engine} on ${this.job.model}: ${why}`);
  }
}

/** A side being measured: its worker (null once it failed) and its runs so far. */
interface Side {
  readonly model: number;
  readonly engine: BenchJob["engine"];
  worker: BenchWorker | null;
  info: string;
  readonly runs: BenchRun[];
  peakRssBytes: number;
  device?: DeviceReport;
}

/** Tokens/s of the slowest, the median and the fastest run (the median as the headline figure computes it). */
function rateSpread(seconds: readonly number[], tokens: number): Spread {
  const s = spreadOf(seconds);
  return { min: tokens / s.max, median: tokens / s.median, max: tokens / s.min };
}

function summarize(side: Side, promptTokens: number, gen: number): EngineBench {
  const prefillSeconds = side.runs.map((r) => r.prefillSeconds);
  const decodeSeconds = side.runs.map((r) => r.decodeSeconds);
  const prefill = median(prefillSeconds);
  const decode = median(decodeSeconds);
  return {
    prefillTokensPerSecond: promptTokens / prefill,
    decodeTokensPerSecond: gen / decode,
    prefillSeconds: prefill,
    decodeSeconds: decode,
    spread: { prefillTokensPerSecond: rateSpread(prefillSeconds, promptTokens), decodeTokensPerSecond: rateSpread(decodeSeconds, gen) },
    runs: { prefillSeconds, decodeSeconds },
    peakRssBytes: side.peakRssBytes,
    info: side.info,
    ...(side.device ? { device: side.device } : {}),
  };
}

/** Second model vs first for one engine: ratios of the medians, their rounds, and warnings for noisy ones. */
function compareEngine(engine: string, first: EngineBench, second: EngineBench, warnings: string[]): EngineComparison {
  const what = (metric: string) => `${engine} ${metric}, second vs first model`;
  const prefill: RatioComparison = compareTimes(first.runs.prefillSeconds, second.runs.prefillSeconds, what("prefill"));
  const decode: RatioComparison = compareTimes(first.runs.decodeSeconds, second.runs.decodeSeconds, what("decode"));
  for (const c of [prefill, decode]) if (c.warning) warnings.push(c.warning);
  return {
    prefill: second.prefillTokensPerSecond / first.prefillTokensPerSecond,
    decode: second.decodeTokensPerSecond / first.decodeTokensPerSecond,
    peakRss: second.peakRssBytes / first.peakRssBytes,
    prefillRounds: prefill.perRound,
    decodeRounds: decode.perRound,
    trusted: { prefill: prefill.trusted, decode: decode.trusted },
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

/**
 * Measures one or two models (the second usually the first with blocks removed). Each engine ×
 * model runs in a process of its own; once all have warmed up, run r of every side happens in
 * round r, in an order that rotates from round to round.
 */
export async function benchModels(paths: readonly string[], options: BenchOptions): Promise<BenchReport> {
  const { loadTokenizer } = await import("../tokenizer/index.js");
  const log = options.log ?? (() => {});
  const llamaAvailable = llamaCppResolvable();
  const notes: string[] = llamaAvailable ? [] : ["node-llama-cpp is not installed (npm install node-llama-cpp to compare with llama.cpp)"];
  const prepared = paths.map((path) => {
    const file = readGguf(path);
    const context = optionalInteger(file, `${architectureOf(file)}.context_length`);
    if (context !== undefined && options.prompt + options.gen + 1 > context) {
      throw new UsageError(`${path}: --prompt ${options.prompt} plus --gen ${options.gen} does not fit in the model's context of ${context} tokens`);
    }
    return { path, summary: summarizeModel(file), prompt: benchPrompt(loadTokenizer(file), options.prompt) };
  });
  const engines: BenchJob["engine"][] = llamaAvailable ? ["shortgpt", "llama.cpp"] : ["shortgpt"];
  const sides: Side[] = prepared.flatMap((_, model) => engines.map((engine) => ({ model, engine, worker: null, info: "", runs: [], peakRssBytes: 0 })));

  // shortgpt's failures end the bench; llama.cpp's leave its column out, with a note.
  const attempt = async (side: Side, step: (worker: BenchWorker) => Promise<void>) => {
    try {
      await step(side.worker!);
    } catch (error) {
      if (side.engine === "shortgpt" || options.signal.aborted) throw error;
      notes.push(`llama.cpp could not run ${paths[side.model]}: ${(error as Error).message}`);
      side.worker?.kill();
      side.worker = null;
    }
  };
  try {
    for (const side of sides) {
      const p = prepared[side.model]!;
      log(`${p.path}: ${side.engine}: loading and warming up`);
      const job: BenchJob = {
        engine: side.engine,
        model: p.path,
        threads: options.threads,
        prompt: p.prompt,
        gen: options.gen,
        ...(side.engine === "shortgpt" && options.device ? { device: options.device } : {}),
      };
      await attempt(side, async () => {
        side.worker = await BenchWorker.start(job, options.signal);
        side.info = side.worker.info;
      });
    }
    for (let round = 0; round < options.runs; round++) {
      const live = sides.filter((s) => s.worker !== null);
      for (let i = 0; i < live.length; i++) {
        const side = live[(i + round) % live.length]!;
        await attempt(side, async (worker) => void side.runs.push(await worker.run()));
      }
      log(`round ${round + 1} of ${options.runs} done`);
    }
    for (const side of sides) {
      if (side.worker) {
        await attempt(side, async (worker) => {
          const { peakRssBytes, device } = await worker.finish();
          side.peakRssBytes = peakRssBytes;
          if (device) side.device = device;
        });
      }
    }
  } finally {
    for (const side of sides) side.worker?.kill();
  }

  const models: ModelBench[] = prepared.map((p, m) => {
    const measured = (engine: BenchJob["engine"]) => sides.find((s) => s.model === m && s.engine === engine && s.worker !== null);
    const theirs = measured("llama.cpp");
    return {
      path: p.path,
      architecture: p.summary.architecture,
      blockCount: p.summary.blockCount,
      parameters: p.summary.parameters,
      fileSize: p.summary.fileSize,
      shortgpt: summarize(measured("shortgpt")!, p.prompt.length, options.gen),
      llamaCpp: theirs ? summarize(theirs, p.prompt.length, options.gen) : null,
    };
  });
  const warnings: string[] = [];
  const [a, b] = models;
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
            shortgpt: compareEngine("shortgpt", a.shortgpt, b.shortgpt, warnings),
            llamaCpp: a.llamaCpp && b.llamaCpp ? compareEngine("llama.cpp", a.llamaCpp, b.llamaCpp, warnings) : null,
            fileSize: b.fileSize / a.fileSize,
            parameters: b.parameters / a.parameters,
            blocks: b.blockCount / a.blockCount,
          }
        : null,
    warnings,
  };
}

/** Left-aligned first column, right-aligned others. */
function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ").trimEnd()).join("\n");
}

/** "495.7 (480.1-510.3)": the median with the runs' range. */
function rateCell(spread: Spread): string {
  return spread.min === spread.max ? spread.median.toFixed(1) : `${spread.median.toFixed(1)} (${spread.min.toFixed(1)}-${spread.max.toFixed(1)})`;
}

export function renderBench(report: BenchReport): string {
  const s = report.settings;
  const lines: string[] = [];
  lines.push(
    `${s.promptTokens}-token prompt (${s.text}), ${s.genTokens} generated tokens, ${s.threads} thread${s.threads === 1 ? "" : "s"}, ` +
      `median (min-max) of ${s.runs} interleaved run${s.runs === 1 ? "" : "s"}`,
  );
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
        e ? rateCell(e.spread.prefillTokensPerSecond) : "—",
        e ? rateCell(e.spread.decodeTokensPerSecond) : "—",
        e ? formatBytes(e.peakRssBytes) : "—",
      ]);
    });
  }
  lines.push(table(rows));
  const device = report.models[0]?.shortgpt.device;
  if (device) lines.push("", `shortgpt ran on ${terminalSafe(describeDevice(device))}${report.llamaCpp.available ? "; llama.cpp on the CPU" : ""}`);
  const c = report.comparison;
  if (c) {
    const pct = (r: number) => `${((1 - r) * 100).toFixed(1)}% smaller`;
    const engineLine = (e: EngineComparison) =>
      `prefill ${formatComparison({ ratio: e.prefill, perRound: e.prefillRounds, trusted: e.trusted.prefill })}, ` +
      `decode ${formatComparison({ ratio: e.decode, perRound: e.decodeRounds, trusted: e.trusted.decode })} as fast; peak RSS ${e.peakRss.toFixed(2)}×`;
    lines.push("");
    lines.push(
      `second vs first model: ${report.models[1]!.blockCount} of ${report.models[0]!.blockCount} blocks, file ${pct(c.fileSize)}, parameters ${pct(c.parameters)}`,
    );
    lines.push(`  shortgpt:  ${engineLine(c.shortgpt)}`);
    if (c.llamaCpp) lines.push(`  llama.cpp: ${engineLine(c.llamaCpp)}`);
  }
  if (report.warnings.length > 0) lines.push("", ...report.warnings.map((w) => `warning: ${w}`));
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
    .option("--runs <n>", "timed runs per engine and model, interleaved (after one warm-up); medians and min-max are reported", positiveInt("--runs"), 5)
    .option("--json", "print one JSON object instead of the table");
  addDeviceOptions(command)
    .addHelpText(
      "after",
      `
Prefill: the prompt through the model in one batch and its first token (time to
first token). Decode: --gen more tokens, one at a time, greedy, end-of-text
ignored. Each engine and model runs in a child process of its own; peak RSS is
that process's (weights are memory-mapped, so they count once touched). The
processes' runs interleave (round r runs every side once), so a change in the
machine's load hits all sides alike; a second-vs-first ratio whose rounds
differ by more than 25% is flagged as too noisy to trust.

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
