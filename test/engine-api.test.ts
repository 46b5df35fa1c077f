/**
 * The engine's API contract: typed errors for bad models and bad input (at
 * open, never mid-run, never a crash), AbortSignal cancellation, two models
 * at once, a worker thread, close(), and the `shortgpt eval` command.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";

import { afterAll, describe, expect, it } from "vitest";

import { modelConfig } from "../src/arch/model-config.js";
import { addon } from "../src/engine.js";
import { AbortError } from "../src/errors.js";
import { readGguf } from "../src/gguf/read.js";
import { openModel } from "../src/model.js";
import { randomModelTensors, writeModel, type ModelTensor } from "../src/models/random-model.js";
import { runCli } from "./helpers/cli.js";
import { REPO_ROOT, SHARED_DATA, SMOLLM2_PATH, STORIES_PATH, sharedData } from "./helpers/data.js";
import { codeOf } from "./helpers/logit-rows.js";

const dir = mkdtempSync(join(tmpdir(), "shortgpt-api-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base = { architecture: "llama", embd: 256, vocab: 32, blocks: 2, heads: 4, headsKv: 2, ff: 256, weights: "F32", seed: 3 } as const;

/** The tiny model, its metadata and tensors edited first. */
function tinyModel(name: string, edit: (spec: { architecture: string; tensors: ModelTensor[] }) => void = () => {}): string {
  const spec = { architecture: base.architecture as string, tensors: randomModelTensors(base) };
  edit(spec);
  const path = join(dir, `${name}.gguf`);
  writeModel(path, { ...base, architecture: spec.architecture }, spec.tensors);
  return path;
}

describe("bad models are refused at open with typed errors", () => {
  it("an unsupported architecture lists the supported ones", async () => {
    const path = tinyModel("mamba", (s) => (s.architecture = "mamba"));
    await expect(openModel(path)).rejects.toMatchObject({ code: "ERR_UNSUPPORTED_ARCH", message: expect.stringMatching(/llama, .*qwen2.*qwen3.*phi3.*gemma2.*gemma3/) });
  });

  it("a weight type the kernels cannot read names the tensor and the type", async () => {
    const path = tinyModel("iq2", (s) => {
      const t = s.tensors.find((x) => x.name === "blk.1.attn_q.weight")!;
      // IQ2_XXS: 66 bytes per 256 values.
      t.data = { type: 16, bytes: new Uint8Array((256 / 256) * 66 * 256) };
    });
    await expect(openModel(path)).rejects.toMatchObject({ code: "ERR_UNSUPPORTED_TYPE", message: expect.stringMatching(/blk\.1\.attn_q\.weight.*IQ2_XXS/) });
  });

  it("a missing tensor and a tensor of the wrong shape are named", async () => {
    const missing = tinyModel("missing", (s) => (s.tensors = s.tensors.filter((t) => t.name !== "blk.1.ffn_up.weight")));
    await expect(openModel(missing)).rejects.toMatchObject({ code: "ERR_MISSING_TENSOR", message: expect.stringContaining("blk.1.ffn_up.weight") });
    const shape = tinyModel("shape", (s) => {
      const t = s.tensors.find((x) => x.name === "blk.0.attn_k.weight")!;
      t.dims = [256, 64];
      t.data = (t.data as Float32Array).subarray(0, 256 * 64);
    });
    await expect(openModel(shape)).rejects.toMatchObject({ code: "ERR_TENSOR_SHAPE", message: expect.stringContaining("blk.0.attn_k.weight") });
  });

  it("the native side checks what JavaScript hands it", () => {
    const path = tinyModel("ok");
    const file = readGguf(path);
    const tensors = file.tensors.map((t) => ({ name: t.name, type: t.type, dims: t.dims, offset: t.offset, size: t.size }));
    const config = modelConfig(file);
    const Engine = addon().Engine;
    const options = { threads: 1, kv: "f16" as const, memoryBudget: 64 << 20 };
    const code = (fn: () => unknown) => {
      try {
        fn();
        return undefined;
      } catch (error) {
        return (error as { code?: string }).code;
      }
    };
    expect(code(() => new Engine(path, tensors, {}, options))).toBe("ERR_INVALID_ARG");
    expect(code(() => new Engine(path, tensors, { ...config, nLayer: 100000 }, options))).toBe("ERR_MODEL_CONFIG");
    expect(code(() => new Engine(path, tensors, { ...config, blocks: config.blocks.slice(1) }, options))).toBe("ERR_MODEL_CONFIG");
    expect(code(() => new Engine(path, tensors, { ...config, headDimK: 3 }, options))).toBe("ERR_MODEL_CONFIG");
    expect(code(() => new Engine(path, tensors, config, { ...options, kv: "f8" as never }))).toBe("ERR_INVALID_ARG");
    expect(code(() => new Engine(path, tensors.map((t) => ({ ...t, size: t.size + 4 })), config, options))).toBe("ERR_TENSOR_SIZE");
    const engine = new Engine(path, tensors, config, options);
    const skip = new Uint8Array(2);
    expect(code(() => engine.logits([1, 2] as never, Int32Array.of(0), skip))).toBe("ERR_INVALID_ARG");
    engine.close();
    expect(code(() => engine.logits(Int32Array.of(1), Int32Array.of(0), skip))).toBe("ERR_MODEL_CLOSED");
  });

  it("bad calls reject with typed errors and the model keeps working", async () => {
    const model = await openModel(tinyModel("calls"));
    try {
      expect(await codeOf(model.logits([1, 99]))).toBe("ERR_TOKEN_RANGE");
      expect(await codeOf(model.logits([1, 2], { skip: [2] }))).toBe("ERR_INVALID_SKIP");
      expect(await codeOf(model.logits([1, 2], { positions: [5] }))).toBe("ERR_INVALID_ARG");
      expect(await codeOf(model.hiddenStats([[1, 2]], { spans: [3] }))).toBe("ERR_INVALID_ARG");
      expect(await codeOf(model.perplexity({ tokens: [1, 2, 3], bos: null }, { ctx: 4 }))).toBe("ERR_TEXT_TOO_SHORT");
      const raw = addon().Engine;
      expect(raw).toBeTypeOf("function");
      const logits = await model.logits([1, 2, 3]);
      expect(logits.length).toBe(3 * base.vocab);
      expect(Array.from(logits).every(Number.isFinite)).toBe(true);
    } finally {
      model.close();
    }
    await expect(model.logits([1])).rejects.toMatchObject({ code: "ERR_MODEL_CLOSED" });
  });
});

describe("cancellation, concurrency, workers", () => {
  it("an AbortSignal stops a running perplexity with AbortError; the next call works", async () => {
    const model = await openModel(SMOLLM2_PATH, { threads: 2 });
    try {
      const ids = Array.from({ length: 4 * 512 + 10 }, (_, i) => (i * 7919) % 49152);
      const controller = new AbortController();
      let progressCalls = 0;
      const started = performance.now();
      const run = model.perplexity({ tokens: ids }, {
        ctx: 512,
        signal: controller.signal,
        onProgress: () => {
          progressCalls++;
          controller.abort();
        },
      });
      await expect(run).rejects.toBeInstanceOf(AbortError);
      expect(progressCalls).toBeGreaterThan(0);
      // Stopped between blocks, long before four chunks of 512 would finish.
      expect(performance.now() - started).toBeLessThan(20_000);
      await expect(model.perplexity({ tokens: ids }, { ctx: 128, chunks: 2, signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
      const after = await model.perplexity({ tokens: ids }, { ctx: 128, chunks: 2 });
      expect(after.perplexity).toBeGreaterThan(1);
    } finally {
      model.close();
    }
  });

  it.skipIf(!SHARED_DATA)("two models run at once and give the same bits as one at a time", async () => {
    const ids = [1, 403, 407, 261, 378, 432, 383, 286];
    const a = await openModel(STORIES_PATH, { threads: 1 });
    const b = await openModel(SMOLLM2_PATH, { threads: 1 });
    try {
      const [la, lb] = await Promise.all([a.logits(ids), b.logits(ids)]);
      expect(Array.from(await a.logits(ids))).toEqual(Array.from(la));
      expect(Array.from(await b.logits(ids))).toEqual(Array.from(lb));
      // Calls queued on one model run one after another and all settle.
      const many = await Promise.all([a.logits(ids), a.logits(ids.slice(0, 4)), a.hiddenStats([ids])]);
      expect(many[1].length).toBe(4 * a.vocabSize);
    } finally {
      a.close();
      b.close();
    }
  });

  it.skipIf(!SHARED_DATA)("works inside a worker thread", async () => {
    const ids = [1, 403, 407, 261, 378];
    const model = await openModel(STORIES_PATH, { threads: 1 });
    const expected = Array.from(await model.logits(ids, { positions: [4] }));
    model.close();
    const script = join(dir, "worker.mjs");
    writeFileSync(
      script,
      `import { parentPort, workerData } from "node:worker_threads";
const { openModel } = await import(workerData.api);
const model = await openModel(workerData.path, { threads: 1 });
const logits = await model.logits(workerData.ids, { positions: [4] });
model.close();
parentPort.postMessage(Array.from(logits));`,
    );
    const api = pathToFileURL(join(REPO_ROOT, "dist", "model.js")).href;
    const result = await new Promise<number[]>((resolve, reject) => {
      const worker = new Worker(script, { workerData: { api, path: STORIES_PATH, ids } });
      worker.once("message", resolve);
      worker.once("error", reject);
    });
    expect(result).toEqual(expected);
  });

  it("close() during a running call lets it finish", async () => {
    const model = await openModel(SMOLLM2_PATH, { threads: 2 });
    const run = model.logits(Array.from({ length: 64 }, (_, i) => i + 100), { positions: [63] });
    model.close();
    const logits = await run;
    expect(logits.length).toBe(model.vocabSize);
    expect(model.closed).toBe(true);
  });
});

describe.skipIf(!SHARED_DATA)("shortgpt eval", () => {
  it("prints llama-perplexity's number as JSON, with and without a skip mask", () => {
    const text = sharedData("text/wikitext-2-raw/wiki.test.raw");
    const run = (...args: string[]) => runCli(["eval", STORIES_PATH, "--text", text, ...args]);
    const r = run("--ctx", "256", "--chunks", "3", "--threads", "1", "--json");
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(Object.keys(out).sort()).toEqual(["chunks", "ctx", "device", "model", "perplexity", "seconds", "skip", "tokensScored"]);
    expect(out).toMatchObject({ ctx: 256, chunks: 3, tokensScored: 3 * 127, skip: [] });
    const skipped = run("--ctx", "256", "--chunks", "3", "--skip", "2-3", "--json");
    expect(skipped.code, skipped.stderr).toBe(0);
    const s = JSON.parse(skipped.stdout) as { perplexity: number; skip: number[] };
    expect(s.skip).toEqual([2, 3]);
    expect(s.perplexity).not.toBe(out.perplexity);
    const bad = run("--skip", "7");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("ERR_INVALID_SKIP");
    const usage = run("--skip", "x");
    expect(usage.code).toBe(2);
  });
});
