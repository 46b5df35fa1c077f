/**
 * The options every long call shares, on the real SmolLM2 model: wrong types
 * are typed errors naming the option (checked before any work), a throwing
 * onProgress rejects the call with its own error and stops the work (no
 * DEP0168 warning, no silent success), an aborted call rejects with an
 * AbortError whose cause is the signal's reason and reports no progress after
 * the abort, and openModel refuses thread counts it would otherwise ignore.
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { nlpCorpusText } from "../src/data/nlp-corpus.js";
import { AbortError } from "../src/errors.js";
import { pruneLayers } from "../src/gguf/prune.js";
import { readGguf } from "../src/gguf/read.js";
import { headerSpecOf, writeGguf } from "../src/gguf/write.js";
import { openModel, type Model } from "../src/model.js";
import { SMOLLM2_PATH } from "./helpers/data.js";

const dir = mkdtempSync(join(tmpdir(), "shortgpt-options-"));
let model: Model;
// Enough text for 4 windows of 64 tokens and 2 perplexity chunks of 128.
const text = nlpCorpusText({ documents: [0], maxCharacters: 6000 }).text;
const ids = Array.from({ length: 96 }, (_, i) => 100 + i);

/** DEP0168 ("Uncaught N-API callback exception") and friends, caught while a test runs. */
const warnings: string[] = [];
const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);

beforeAll(async () => {
  model = await openModel(SMOLLM2_PATH, { threads: 2 });
  process.on("warning", onWarning);
});
afterAll(() => {
  process.off("warning", onWarning);
  model.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Every long call, with the extra options it needs merged in. */
function calls(): [string, (options: Record<string, unknown>) => Promise<unknown>][] {
  const spec = headerSpecOf(readGguf(SMOLLM2_PATH));
  const file = readGguf(SMOLLM2_PATH);
  return [
    ["model.logits", (o) => model.logits(ids, o)],
    ["model.perplexity", (o) => model.perplexity(text, { ctx: 128, chunks: 2, ...o })],
    ["model.hiddenStats", (o) => model.hiddenStats([ids.slice(0, 32), ids.slice(32, 64)], o)],
    ["model.score", (o) => model.score(text, { ctx: 64, windows: 4, ...o })],
    ["pruneLayers", (o) => pruneLayers(SMOLLM2_PATH, join(dir, "pruned.gguf"), [3], o)],
    ["writeGguf", (o) => writeGguf(join(dir, "copy.gguf"), spec, file.tensors.map((t) => ({ path: SMOLLM2_PATH, offset: t.offset })), o)],
  ];
}

async function errorOf(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error("expected the call to reject");
}

describe("option types are checked before any work", () => {
  it("onProgress that is not a function: ERR_INVALID_ARG naming the call and the option", async () => {
    for (const [name, call] of calls()) {
      const error = await errorOf(call({ onProgress: "yes" }));
      expect(error.code, name).toBe("ERR_INVALID_ARG");
      expect(error.message, name).toContain(`${name}: options.onProgress must be a function, got the string "yes"`);
    }
    const error = await errorOf(model.generate(ids, { maxTokens: 2, onToken: 42 as never }));
    expect(error).toMatchObject({ code: "ERR_INVALID_ARG", message: expect.stringContaining("model.generate: options.onToken must be a function, got number 42") });
  });

  it("signal that is not an AbortSignal: ERR_INVALID_ARG instead of a raw TypeError", async () => {
    for (const [name, call] of calls()) {
      const error = await errorOf(call({ signal: "x" }));
      expect(error.code, name).toBe("ERR_INVALID_ARG");
      expect(error.message, name).toContain(`${name}: options.signal must be an AbortSignal`);
    }
    await expect(model.generate(ids, { maxTokens: 2, signal: {} as never })).rejects.toMatchObject({ code: "ERR_INVALID_ARG" });
    // Nothing was written by the refused calls.
    expect(readdirSync(dir)).toEqual([]);
  });

  it("threads: 0, negative, fractional, too many or not a number are refused, not defaulted", async () => {
    for (const threads of [0, -1, 1.5, 4096, "2", Number.NaN]) {
      const error = await errorOf(openModel(SMOLLM2_PATH, { threads: threads as number }));
      expect(error.code, String(threads)).toBe("ERR_INVALID_ARG");
      expect(error.message, String(threads)).toContain("openModel: options.threads must be an integer 1..1024");
    }
    await expect(openModel(SMOLLM2_PATH, { memoryBudget: "1G" as never })).rejects.toMatchObject({ code: "ERR_INVALID_ARG", message: expect.stringContaining("options.memoryBudget") });
    const ok = await openModel(SMOLLM2_PATH, { threads: 1 });
    expect(ok.info.threads).toBe(1);
    ok.close();
  });
});

describe("a throwing onProgress rejects the call with its error and stops the work", () => {
  it("on every long call", async () => {
    warnings.length = 0;
    for (const [name, call] of calls()) {
      const thrown = new Error(`progress display broke in ${name}`);
      let progressCalls = 0;
      const error = await errorOf(
        call({
          onProgress: () => {
            progressCalls++;
            throw thrown;
          },
        }),
      );
      expect(error, name).toBe(thrown);
      // Stopped at the first report: the work was cancelled, nothing more was reported.
      expect(progressCalls, name).toBe(1);
    }
    // The rewrites left nothing behind (no output, no temp file).
    expect(readdirSync(dir)).toEqual([]);
    // Let a would-be DEP0168 warning (emitted on process.nextTick) arrive before looking.
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings).toEqual([]);
    // The model still works.
    expect((await model.logits(ids.slice(0, 4), { positions: [3] })).length).toBe(model.vocabSize);
  });

  it("a throwing onToken still rejects generate with its error", async () => {
    const thrown = new Error("onToken broke");
    await expect(model.generate(ids.slice(0, 8), { maxTokens: 8, ignoreEos: true, onToken: () => { throw thrown; } })).rejects.toBe(thrown);
  });
});

describe("abort", () => {
  it("rejects with an AbortError whose cause is the signal's reason, with no progress after the abort", async () => {
    for (const [name, call] of calls()) {
      const controller = new AbortController();
      const reason = new Error(`user pressed cancel in ${name}`);
      let afterAbort = 0;
      const error = await errorOf(
        call({
          signal: controller.signal,
          onProgress: () => {
            if (controller.signal.aborted) afterAbort++;
            else controller.abort(reason);
          },
        }),
      );
      expect(error, name).toBeInstanceOf(AbortError);
      expect(error.cause, name).toBe(reason);
      expect(afterAbort, name).toBe(0);
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  it("an already-aborted signal and an abort during generate carry the reason too", async () => {
    const reason = "closing the window";
    const before = await errorOf(model.logits(ids, { signal: AbortSignal.abort(reason) }));
    expect(before).toBeInstanceOf(AbortError);
    expect(before.cause).toBe(reason);
    const controller = new AbortController();
    const during = await errorOf(model.generate(ids.slice(0, 8), { maxTokens: 64, ignoreEos: true, signal: controller.signal, onToken: () => controller.abort(reason) }));
    expect(during).toBeInstanceOf(AbortError);
    expect(during.cause).toBe(reason);
    // A signal aborted without a reason gets the DOMException the platform makes.
    const plain = new AbortController();
    plain.abort();
    expect((await errorOf(model.logits(ids, { signal: plain.signal }))).cause).toMatchObject({ name: "AbortError" });
  });
});

describe("close()", () => {
  it("a call whose text is still being tokenized when close() comes still runs", async () => {
    const m = await openModel(SMOLLM2_PATH, { threads: 2 });
    const run = m.perplexity(text, { ctx: 128, chunks: 1 });
    m.close();
    expect((await run).chunks).toBe(1);
    await expect(m.logits([1])).rejects.toMatchObject({ code: "ERR_MODEL_CLOSED" });
  });
});
