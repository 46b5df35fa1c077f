/**
 * The made-up models and blocks every test and `npm run gpu-check` use (src/models/random-model.ts,
 * random-blocks.ts): their blocks decode, through the engine's own dequantizers, to values of the
 * intended scale in every format; kernel-test blocks and activations are reproducible and reach
 * the extreme scales; in-memory tensors equal the streamed file's; the files are deterministic, hold the formats they claim (llama.cpp's
 * Q4_K_M rule), run on the CPU engine with finite, well-separated Block Influence values, and
 * are real GGUFs: llama.cpp runs them and agrees with our engine. And the gpu-check itself runs
 * end to end in its dry-run mode (a second CPU engine in place of CUDA), so that on a GPU
 * machine only the CUDA parts are new.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { addon } from "../src/engine.js";
import { blockInfluenceOf } from "../src/evaluate/hidden-stats.js";
import { readGguf } from "../src/gguf/read.js";
import { ggmlTypeByName, ggmlTypeName } from "../src/gguf/types.js";
import { openModel } from "../src/model.js";
import { kv } from "../src/gguf/value.js";
import { blockElements, fillRandomBlocks, gaussianFloats, halfBits, RANDOM_BLOCK_TYPES, randomTestBlocks, Rng } from "../src/models/random-blocks.js";
import { LLAMA3_8B_Q4_K_M, Q4_K_M, randomModelTensors, SMALL_RANDOM_MODELS, writeModel, writeRandomModel } from "../src/models/random-model.js";
import { REPO_ROOT, SHARED_DATA, STORIES_PATH } from "./helpers/data.js";
import { loadReferenceModel, referenceNextTokenLogprobs } from "./helpers/llama-reference.js";
import { agreementWithReference } from "./helpers/logit-rows.js";

const dir = mkdtempSync(join(tmpdir(), "shortgpt-random-model-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("random blocks", () => {
  it("half and bfloat16 bits round to nearest even", () => {
    expect(halfBits(1)).toBe(0x3c00);
    expect(halfBits(-2)).toBe(0xc000);
    expect(halfBits(65504)).toBe(0x7bff);
    expect(halfBits(1e6)).toBe(0x7c00);
    expect(halfBits(2 ** -24)).toBe(0x0001); // the smallest subnormal
    expect(halfBits(1 + 2 ** -11)).toBe(0x3c00); // a tie goes to the even mantissa
    expect(halfBits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    const f16 = addon().kernels.fromF16(Uint16Array.from([halfBits(0.1234), halfBits(-3.5e-5)]));
    expect(f16[0]).toBeCloseTo(0.1234, 4);
    expect(f16[1]).toBeCloseTo(-3.5e-5, 7); // a subnormal: steps of 6e-8
  });

  // 8192 values per format (enough for the sample std to be within ~2% of the truth). Tolerances:
  // the rms may exceed the target by the quants' own mean (Q3_K: q in -4..3, +2.4%); the mean may
  // be off by the codebook's mean for IQ4 (K averages -5.9 of an rms of 69: 0.085·std).
  for (const name of RANDOM_BLOCK_TYPES) {
    it(`${name}: decodes to mean ~0 and the standard deviation asked for`, () => {
      const type = ggmlTypeByName(name)!;
      const n = 8192;
      for (const blocks of [n / type.blockElems, 2048]) {
        // 2048 blocks also take the scale-set copying path (more than 256 blocks).
        const count = blocks * type.blockElems;
        const bytes = new Uint8Array(blocks * type.blockBytes);
        fillRandomBlocks(type.id, bytes, blocks, 0.02, new Rng(3));
        const x = addon().kernels.dequantize(type.id, bytes, count);
        let sum = 0;
        let sq = 0;
        for (const v of x) {
          sum += v;
          sq += v * v;
        }
        const mean = sum / count;
        const rms = Math.sqrt(sq / count);
        expect(Math.abs(mean), `${name} mean`).toBeLessThan(0.15 * 0.02);
        expect(rms / 0.02, `${name} rms`).toBeGreaterThan(0.9);
        expect(rms / 0.02, `${name} rms`).toBeLessThan(1.1);
      }
    });
  }
});

describe("test blocks and activations", () => {
  it("randomTestBlocks: reproducible random bits with finite f16 scales; extremes reach 0, subnormal and 60000 scales", () => {
    for (const name of RANDOM_BLOCK_TYPES) {
      const nIn = blockElements(name) === 256 ? 512 : 96;
      const a = randomTestBlocks(name, 16, nIn, 7);
      expect(Buffer.from(randomTestBlocks(name, 16, nIn, 7).bytes).equals(Buffer.from(a.bytes)), name).toBe(true);
      expect(Buffer.from(randomTestBlocks(name, 16, nIn, 8).bytes).equals(Buffer.from(a.bytes)), name).toBe(false);
      const typical = addon().kernels.dequantize(a.type, a.bytes, 16 * nIn);
      expect(typical.every(Number.isFinite), name).toBe(true);
      // Typical scales: |d| < 0.01 per 32 values (0.002 per 256) times the largest code.
      expect(Math.max(...typical.map(Math.abs)), name).toBeLessThan(20);
      if (blockElements(name) === 1) continue;
      const e = randomTestBlocks(name, 64, nIn, 7, true);
      const extreme = addon().kernels.dequantize(e.type, e.bytes, 64 * nIn);
      expect(extreme.every(Number.isFinite), name).toBe(true);
      expect(Math.max(...extreme.map(Math.abs)), `${name}: a 60000 scale`).toBeGreaterThan(1000);
    }
  });

  it("gaussianFloats: reproducible standard normal values, scaled", () => {
    const x = gaussianFloats(20_001, 4, 3);
    expect(Array.from(gaussianFloats(20_001, 4, 3))).toEqual(Array.from(x));
    const mean = x.reduce((a, v) => a + v, 0) / x.length;
    const std = Math.sqrt(x.reduce((a, v) => a + (v - mean) ** 2, 0) / x.length);
    // 20k samples: the sample mean is within 4 standard errors (3 / sqrt(20001) = 0.021) of 0.
    expect(Math.abs(mean)).toBeLessThan(0.09);
    expect(std / 3).toBeGreaterThan(0.97);
    expect(std / 3).toBeLessThan(1.03);
  });
});

describe("random models", () => {
  it("randomModelTensors holds the bytes writeRandomModel writes; writeModel writes edited tensors, extraKv replacing keys", () => {
    const spec = SMALL_RANDOM_MODELS.find((s) => s.name === "qwen3-q6_k")!;
    const path = join(dir, "streamed.gguf");
    writeRandomModel(spec, path);
    const file = readGguf(path);
    const bytes = readFileSync(path);
    const tensors = randomModelTensors(spec);
    expect(tensors.map((t) => t.name)).toEqual(file.tensors.map((t) => t.name));
    for (const [i, t] of tensors.entries()) {
      const info = file.tensors[i]!;
      const own = t.data instanceof Float32Array ? new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) : t.data.bytes;
      expect(t.dims, t.name).toEqual(info.dims.map(Number));
      expect(Buffer.from(own).equals(bytes.subarray(info.offset, info.offset + own.length)), t.name).toBe(true);
    }
    const edited = tensors.filter((t) => t.name !== "output.weight");
    const handBuilt = join(dir, "hand-built.gguf");
    writeModel(handBuilt, { ...spec, extraKv: [kv.u32("qwen3.context_length", 512)] }, edited);
    const again = readGguf(handBuilt);
    expect(again.kv.filter((e) => e.key === "qwen3.context_length").map((e) => e.value)).toEqual([512]);
    expect(again.tensors.map((t) => t.name)).toEqual(edited.map((t) => t.name));
    const q = again.tensors.find((t) => t.name === "blk.0.attn_q.weight")!;
    const want = (edited.find((t) => t.name === "blk.0.attn_q.weight")!.data as { bytes: Uint8Array }).bytes;
    expect(Buffer.from(want).equals(readFileSync(handBuilt).subarray(q.offset, q.offset + want.length))).toBe(true);
  });


  it("are deterministic and hold the formats they claim (llama.cpp's Q4_K_M rule)", () => {
    const spec = SMALL_RANDOM_MODELS.find((s) => s.name === "llama-q4_k_m")!;
    const a = join(dir, "a.gguf");
    const b = join(dir, "b.gguf");
    const made = writeRandomModel(spec, a);
    writeRandomModel(spec, b);
    const hash = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");
    expect(hash(a)).toBe(hash(b));
    const file = readGguf(a);
    expect(file.fileSize).toBe(made.fileSize);
    const type = (name: string) => ggmlTypeName(file.tensors.find((t) => t.name === name)!.type);
    expect(type("output.weight")).toBe("Q6_K");
    expect(type("token_embd.weight")).toBe("Q4_K");
    // 8 blocks: use_more_bits picks 0 (first eighth), 7 (last eighth) and 3, 6 ((i - 1) % 3 == 2).
    expect(Array.from({ length: 8 }, (_, i) => type(`blk.${i}.ffn_down.weight`))).toEqual(["Q6_K", "Q4_K", "Q4_K", "Q6_K", "Q4_K", "Q4_K", "Q6_K", "Q6_K"]);
    expect(type("blk.2.attn_q.weight")).toBe("Q4_K");
    expect(type("rope_freqs.weight")).toBe("F32");
    // Llama-3-8B in Q4_K_M: 16 of 32 blocks get Q6_K for ffn_down and attn_v (with the output,
    // the 33 Q6_K tensors of llama.cpp's own Meta-Llama-3-8B Q4_K_M files).
    const moreBits = (role: "ffn_down" | "attn_v") => Array.from({ length: 32 }, (_, i) => Q4_K_M(role, i, 32)).filter((t) => t === "Q6_K").length;
    expect(moreBits("ffn_down") + moreBits("attn_v") + 1).toBe(33);
    expect(LLAMA3_8B_Q4_K_M).toMatchObject({ embd: 4096, blocks: 32, heads: 32, headsKv: 8, ff: 14336, vocab: 128256 });
  });

  it("every small model runs on the CPU engine with finite, well-separated Block Influence", async () => {
    for (const spec of SMALL_RANDOM_MODELS) {
      const path = join(dir, `${spec.name}.gguf`);
      writeRandomModel(spec, path);
      const model = await openModel(path, { threads: 2 });
      try {
        expect(model.architecture).toBe(spec.architecture);
        const ids = Array.from({ length: 2 * 64 }, (_, i) => (i * 7919 + 5) % spec.vocab);
        const bi = blockInfluenceOf(await model.hiddenStats([ids.slice(0, 64), ids.slice(64)]));
        const sorted = [...bi].sort((x, y) => x - y);
        const gap = Math.min(...sorted.slice(1).map((v, i) => v - sorted[i]!));
        console.log(`[random-model] ${spec.name}: BI ${bi.map((v) => v.toFixed(4)).join(" ")}; smallest gap ${gap.toExponential(1)}`);
        expect(bi.every((v) => Number.isFinite(v) && v > 0 && v < 1)).toBe(true);
        // Apart by more than the 1e-4 a backend's rounding could move them: the ranking means something.
        expect(gap).toBeGreaterThan(1e-4);
        const logits = await model.logits(ids.slice(0, 16), { positions: [15] });
        expect(logits.every(Number.isFinite)).toBe(true);
      } finally {
        model.close();
      }
    }
  });

  // llama.cpp needs a vocabulary: stories260K's 512 tokens, so these variants have vocab 512.
  describe.skipIf(!SHARED_DATA)("llama.cpp runs them", () => {
    const tokenizerKv = SHARED_DATA ? readGguf(STORIES_PATH).kv.filter((e) => e.key.startsWith("tokenizer.")) : [];
    const ids = Array.from({ length: 64 }, (_, i) => (i === 0 ? 1 : 3 + ((i * 7919) % 500)));
    for (const name of ["llama-every-format", "gemma3-q5_k", "phi3-f16"]) {
      it(`${name}: the same greedy tokens as our engine, ln p close`, async () => {
        // general.name "tiny": llama.cpp treats vocabularies of models named like phi3 specially.
        const spec = { ...SMALL_RANDOM_MODELS.find((s) => s.name === name)!, name: "tiny", vocab: 512, extraKv: tokenizerKv };
        const path = join(dir, `${name}-512.gguf`);
        writeRandomModel(spec, path);
        const model = await openModel(path, { threads: 1 });
        const ref = await loadReferenceModel(path);
        try {
          const r = await referenceNextTokenLogprobs(ref, ids, { threads: 1, positions: ids.map((_, t) => t) });
          const { agree, worstArgmax: worst } = agreementWithReference(await model.logits(ids), 512, r.items);
          console.log(`[random-model] ${name} vs llama.cpp: greedy ${agree}/${r.items.length}, max |Δ ln p| ${worst.toExponential(2)}`);
          // Our engine follows llama.cpp's CPU numerics (quantized activations, f16 K/V) but not its
          // every rounding: on real quantized models ln p differs from llama.cpp's by up to
          // 0.34-0.57 nats and greedy tokens agree at 93-95% of positions, as often as llama.cpp
          // agrees with itself between its two attention kernels (engine-logits). These random
          // models are better conditioned (small block gains); measured: 64/64 and <= 0.015 nats.
          expect(agree / r.items.length).toBeGreaterThanOrEqual(0.95);
          expect(worst).toBeLessThan(0.05);
        } finally {
          model.close();
          await ref.dispose();
        }
      });
    }
  });
});

describe("npm run gpu-check --cpu-only", () => {
  it("runs every small model through the check and writes its summary", () => {
    const out = join(dir, "gpu-check");
    const r = spawnSync(process.execPath, [join(REPO_ROOT, "scripts", "gpu-check.mjs"), "--cpu-only", "--big", "none", "--root", REPO_ROOT, "--out", out, "--work", join(dir, "work")], {
      encoding: "utf8",
      timeout: 600_000,
    });
    expect(r.status, r.stderr.slice(-3000)).toBe(0);
    const result = JSON.parse(readFileSync(join(out, "gpu-check.json"), "utf8")) as {
      done: boolean;
      failures: string[];
      models: { name: string; checks: Record<string, { pass: boolean }> }[];
    };
    expect(result.done).toBe(true);
    expect(result.failures).toEqual([]);
    expect(result.models.map((m) => m.name)).toEqual([...SMALL_RANDOM_MODELS.map((s) => s.name), ...(SHARED_DATA ? ["stories260K"] : [])]);
    for (const m of result.models) expect(Object.keys(m.checks).sort()).toEqual(["bi", "greedy", "lowestQuarter", "perplexity"]);
    expect(readFileSync(join(out, "gpu-check.md"), "utf8")).toContain("**All checks passed.**");
    // A dry run never goes into docs/BENCHMARKS.md.
    const refused = spawnSync(process.execPath, [join(REPO_ROOT, "scripts", "gpu-check.mjs"), "--write-benchmarks", join(out, "gpu-check.json")], { encoding: "utf8" });
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/only a finished CUDA run/);
  });
});
