/**
 * One measured side of `shortgpt bench`, in a process of its own so that its
 * peak memory is its own. `shortgpt bench` starts it with
 * `node bench-worker.js` and writes one job (JSON) to its stdin:
 *
 *   { engine: "shortgpt" | "llama.cpp", model, threads, prompt: number[], gen, runs, device? }
 *
 * It runs one warm-up generation (pages the weights in), then `runs` timed
 * ones: the prompt in one batch from position 0 and its first token
 * (prefill), then `gen` more tokens one at a time (decode, greedy, end of
 * generation ignored). It prints one JSON line:
 *
 *   { prefillSeconds: number[], decodeSeconds: number[], peakRssBytes, info, device? }
 *
 * llama.cpp runs through node-llama-cpp (loaded only here, dynamically: it is
 * optional) with its defaults on the CPU (flash attention "auto", f16 KV
 * cache), the prompt in one batch, its own per-token scheduling included.
 */
import { performance } from "node:perf_hooks";

import type { DeviceOptions, DeviceReport } from "../device/select.js";
import { openModel } from "../model.js";

export interface BenchJob {
  engine: "shortgpt" | "llama.cpp";
  model: string;
  threads: number;
  prompt: number[];
  gen: number;
  runs: number;
  /** shortgpt: where the model runs (default the CPU). */
  device?: DeviceOptions;
}

export interface BenchSample {
  prefillSeconds: number[];
  decodeSeconds: number[];
  peakRssBytes: number;
  info: string;
  /** shortgpt: the device it ran on, read after the runs (CUDA: peak GPU memory included). */
  device?: DeviceReport;
}

async function readJob(): Promise<BenchJob> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString("utf8")) as BenchJob;
}

async function runOurs(job: BenchJob): Promise<Omit<BenchSample, "peakRssBytes">> {
  const model = await openModel(job.model, { threads: job.threads, ...job.device });
  try {
    // gen decode steps follow the prefill's token: gen + 1 tokens in all.
    const once = () => model.generate(job.prompt, { maxTokens: job.gen + 1, ignoreEos: true });
    await once();
    const prefillSeconds: number[] = [];
    const decodeSeconds: number[] = [];
    for (let r = 0; r < job.runs; r++) {
      const result = await once();
      if (result.decodeSteps !== job.gen) throw new Error(`expected ${job.gen} decode steps, got ${result.decodeSteps}`);
      prefillSeconds.push(result.prefillSeconds);
      decodeSeconds.push(result.decodeSeconds);
    }
    const info = model.info.backend === "cuda" ? `shortgpt cuda, ${model.device.name}` : `shortgpt ${model.info.backend} ${model.info.simd}, ${model.info.threads} threads`;
    return { prefillSeconds, decodeSeconds, info, device: model.device };
  } finally {
    model.close();
  }
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

async function runLlama(job: BenchJob): Promise<Omit<BenchSample, "peakRssBytes">> {
  const name = "node-llama-cpp";
  const { getLlama } = (await import(name)) as NodeLlamaCpp;
  const llama = await getLlama({ gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true, logLevel: "error", progressLogs: false });
  const model = await llama.loadModel({ modelPath: job.model });
  // One slot more than used: a full node-llama-cpp context shifts (drops) tokens.
  const context = await model.createContext({ contextSize: job.prompt.length + job.gen + 2, batchSize: job.prompt.length, threads: job.threads, sequences: 1 });
  try {
    const sequence = context.getSequence();
    const once = async () => {
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
      return { prefill: (firstAt - started) / 1000, decode: (end - firstAt) / 1000 };
    };
    await once();
    const prefillSeconds: number[] = [];
    const decodeSeconds: number[] = [];
    for (let r = 0; r < job.runs; r++) {
      const t = await once();
      prefillSeconds.push(t.prefill);
      decodeSeconds.push(t.decode);
    }
    return { prefillSeconds, decodeSeconds, info: `llama.cpp ${llama.llamaCppRelease.release} via node-llama-cpp, CPU, ${job.threads} threads` };
  } finally {
    await context.dispose();
    await model.dispose();
  }
}

const job = await readJob();
const sample = job.engine === "shortgpt" ? await runOurs(job) : await runLlama(job);
// maxRSS is in kilobytes.
const out: BenchSample = { ...sample, peakRssBytes: process.resourceUsage().maxRSS * 1024 };
process.stdout.write(`${JSON.stringify(out)}\n`);
// node-llama-cpp may keep handles open; the measurement is done.
process.exit(0);
