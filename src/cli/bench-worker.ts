/**
 * One measured side of `shortgpt bench`, in a process of its own so that its
 * peak memory is its own. `shortgpt bench` starts one per engine and model
 * (`node bench-worker.js`) and keeps them all alive, so that their runs can
 * interleave: round r runs each side once, one after another, and a change in
 * the machine's load hits every side of that round alike. It talks in lines
 * over stdin and stdout:
 *
 *   parent: { engine: "shortgpt" | "llama.cpp", model, threads, prompt: number[], gen, device? }
 *   worker: { ready: true, info }          after loading the model and one warm-up run
 *   parent: run
 *   worker: { prefillSeconds, decodeSeconds }   one timed run
 *   parent: end                           (or closes stdin)
 *   worker: { peakRssBytes, device? }     and exits (device: shortgpt's, read after the runs,
 *                                         with the peak GPU memory on CUDA)
 *
 * A run is the prompt in one batch from position 0 and its first token
 * (prefill), then `gen` more tokens one at a time (decode, greedy, end of
 * generation ignored). llama.cpp runs through node-llama-cpp (loaded only
 * here, dynamically: it is optional) with its defaults on the CPU (flash
 * attention "auto", f16 KV cache), the prompt in one batch, its own per-token
 * scheduling included.
 */
import { createInterface } from "node:readline";
import { performance } from "node:perf_hooks";

import type { DeviceOptions, DeviceReport } from "../device/select.js";
import { openModel } from "../model.js";

export interface BenchJob {
  engine: "shortgpt" | "llama.cpp";
  model: string;
  threads: number;
  prompt: number[];
  gen: number;
  /** shortgpt: where the model runs (default the CPU). */
  device?: DeviceOptions;
}

/** One timed run. */
export interface BenchRun {
  prefillSeconds: number;
  decodeSeconds: number;
}

/** A side ready to run: `run` times one run, `close` releases the model. */
interface Side {
  info: string;
  run(): Promise<BenchRun>;
  /** shortgpt: the device it ran on, read after the runs (CUDA: peak GPU memory included). */
  device?: () => DeviceReport;
  close(): Promise<void>;
}

async function openOurs(job: BenchJob): Promise<Side> {
  const model = await openModel(job.model, { threads: job.threads, ...job.device });
  // gen decode steps follow the prefill's token: gen + 1 tokens in all.
  const run = async (): Promise<BenchRun> => {
    const result = await model.generate(job.prompt, { maxTokens: job.gen + 1, ignoreEos: true });
    if (result.decodeSteps !== job.gen) throw new Error(`expected ${job.gen} decode steps, got ${result.decodeSteps}`);
    return { prefillSeconds: result.prefillSeconds, decodeSeconds: result.decodeSeconds };
  };
  const info = model.info.backend === "cuda" ? `shortgpt cuda, ${model.device.name}` : `shortgpt ${model.info.backend} ${model.info.simd}, ${model.info.threads} threads`;
  return { info, run, device: () => model.device, close: async () => model.close() };
}

// The subset of node-llama-cpp's API used here (it is an optional peer, not a type dependency).
interface LlamaSequence {
  clearHistory(): Promise<void>;
  evaluate(tokens: number[], options: { temperature: number; yieldEogToken: boolean }): AsyncIterable<number>;
}
interface LlamaContext {
  getSequence(): LlamaSequence;
  dispose(): Promise<void>;
}
interface LlamaModel {
  createContext(options: { contextSize: number; batchSize: number; threads: number; sequences: number }): Promise<LlamaContext>;
  dispose(): Promise<void>;
}
interface NodeLlamaCpp {
  getLlama(options: object): Promise<{ loadModel(options: { modelPath: string }): Promise<LlamaModel>; llamaCppRelease: { release: string } }>;
}

async function openLlama(job: BenchJob): Promise<Side> {
  const name = "node-llama-cpp";
  const { getLlama } = (await import(name)) as NodeLlamaCpp;
  const llama = await getLlama({ gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true, logLevel: "error", progressLogs: false });
  const model = await llama.loadModel({ modelPath: job.model });
  // One slot more than used: a full node-llama-cpp context shifts (drops) tokens.
  const context = await model.createContext({ contextSize: job.prompt.length + job.gen + 2, batchSize: job.prompt.length, threads: job.threads, sequences: 1 });
  const sequence = context.getSequence();
  const run = async (): Promise<BenchRun> => {
    await sequence.clearHistory();
    const started = performance.now();
    let firstAt = 0;
    let count = 0;
    for await (const token of sequence.evaluate(job.prompt, { temperature: 0, yieldEogToken: true })) {
      void token;
      if (count++ === 0) firstAt = performance.now();
      if (count > job.gen) break;
    }
    const end = performance.now();
    return { prefillSeconds: (firstAt - started) / 1000, decodeSeconds: (end - firstAt) / 1000 };
  };
  const close = async () => {
    await context.dispose();
    await model.dispose();
  };
  return { info: `llama.cpp ${llama.llamaCppRelease.release} via node-llama-cpp, CPU, ${job.threads} threads`, run, close };
}

function send(message: object): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })[Symbol.asyncIterator]();
const first = await lines.next();
if (first.done) throw new Error("no job on stdin");
const job = JSON.parse(first.value) as BenchJob;
const side = job.engine === "shortgpt" ? await openOurs(job) : await openLlama(job);
await side.run(); // warm-up: pages the weights in
send({ ready: true, info: side.info });
for (let line = await lines.next(); !line.done && line.value.trim() !== "end"; line = await lines.next()) {
  if (line.value.trim() !== "run") throw new Error(`unknown request ${JSON.stringify(line.value)}`);
  send(await side.run());
}
const device = side.device?.();
await side.close();
// maxRSS is in kilobytes.
send({ peakRssBytes: process.resourceUsage().maxRSS * 1024, ...(device ? { device } : {}) });
// node-llama-cpp may keep handles open; the measurement is done.
process.exit(0);
