/**
 * Dequantization of every supported weight format against the `gguf` Python package
 * (gguf.quants.dequantize, pinned 0.19.0): rows of real tensors from the PyPI models and
 * rows made by gguf-py's quantizers or as random valid blocks (see
 * test/fixtures/kernels/support.ts). Both sides do the same float operations in the same
 * order (d·q, then + m; d·sc, then ·q; …), so results must be bit-identical: equality is exact.
 */
import { afterAll, describe, expect, it } from "vitest";

import { GEMMA3_PATH, SMOLLM2_PATH } from "./helpers/data.js";
import { cleanupScratch, kernels, pythonBlocks, pythonDequantize, tensorRows, typeInfo, type WeightRows } from "./fixtures/kernels/support.js";

afterAll(cleanupScratch);

function expectExact(got: Float32Array, want: Float32Array, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) {
      throw new Error(`${what}: element ${i} is ${got[i]}, gguf-py has ${want[i]}`);
    }
  }
}

async function check(rows: WeightRows, what: string): Promise<void> {
  const got = kernels().dequantize(rows.type, rows.bytes, rows.rows * rows.nIn);
  const want = await pythonDequantize(rows.typeName, rows.bytes, rows.rows);
  expectExact(got, want, what);
  // A test that cannot fail proves nothing: the data must not be trivial.
  expect(want.some((v) => v !== 0), `${what}: all zero`).toBe(true);
}

describe("dequantize vs gguf-py on real tensors", () => {
  const cases: [string, string, string][] = [
    ["SmolLM2", SMOLLM2_PATH, "Q4_1"],
    ["SmolLM2", SMOLLM2_PATH, "Q8_0"],
    ["SmolLM2", SMOLLM2_PATH, "F32"],
    ["Gemma 3", GEMMA3_PATH, "Q5_0"],
    ["Gemma 3", GEMMA3_PATH, "Q4_K"],
    ["Gemma 3", GEMMA3_PATH, "Q6_K"],
    ["Gemma 3", GEMMA3_PATH, "Q8_0"],
  ];
  for (const [model, path, type] of cases) {
    it(`${type} (${model})`, async () => {
      const rows = tensorRows(path, type, 48);
      await check(rows, `${model} ${rows.name}`);
    });
  }
});

describe("dequantize vs gguf-py on made blocks", () => {
  // Quantized by gguf-py from gaussian rows (with zero, near-f16-max and tiny rows) where it
  // can quantize; random valid blocks (scales random, zero, 65504, subnormal) otherwise.
  const types = ["F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS"];
  for (const [i, type] of types.entries()) {
    it(type, async () => {
      const t = typeInfo(type);
      const nIn = t.blockElems === 256 ? 512 : 96;
      await check(await pythonBlocks(type, 24, nIn, 100 + i), type);
    });
  }
});

describe("supported types", () => {
  it("lists exactly the formats the kernels read", () => {
    const names = kernels().supportedTypes().map((id) => typeInfo(idName(id)).name);
    expect(names).toEqual(["F32", "F16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS", "BF16"]);
    for (const id of [9, 15, 16, 19, 24, 28, 34, 39, 41, 4, 43, -1]) expect(kernels().weightTypeSupported(id), `type ${id}`).toBe(false);
  });

  it("refuses other formats with ERR_UNSUPPORTED_TYPE naming the tensor and the type", () => {
    expect(() => kernels().requireSupported(16, "blk.3.ffn_up.weight")).toThrow(/blk\.3\.ffn_up\.weight.*IQ2_XXS/);
    try {
      kernels().requireSupported(39, "output.weight");
    } catch (error) {
      expect((error as { code?: string }).code).toBe("ERR_UNSUPPORTED_TYPE");
    }
    expect(() => kernels().requireSupported(12, "blk.0.attn_q.weight")).not.toThrow();
    expect(() => kernels().dequantize(16, new Uint8Array(66), 256)).toThrow(expect.objectContaining({ code: "ERR_UNSUPPORTED_TYPE" }));
  });

  it("checks sizes against the byte length", () => {
    const k = kernels();
    expect(() => k.dequantize(2, new Uint8Array(17), 32)).toThrow(expect.objectContaining({ code: "ERR_INVALID_ARG" }));
    expect(() => k.dequantize(2, new Uint8Array(18), 33)).toThrow(expect.objectContaining({ code: "ERR_INVALID_ARG" }));
    expect(() => k.dequantize(12, new Uint8Array(144), 512)).toThrow(expect.objectContaining({ code: "ERR_INVALID_ARG" }));
    expect(() => k.dequantize(2, new Float32Array(8) as unknown as Uint8Array, 32)).toThrow(expect.objectContaining({ code: "ERR_INVALID_ARG" }));
    expect(() => k.dequantize(2, new Uint8Array(18), -32)).toThrow(expect.objectContaining({ code: "ERR_INVALID_ARG" }));
    expect(k.dequantize(2, new Uint8Array(18), 0).length).toBe(0);
    // An unaligned view (odd byteOffset) reads the same values as an aligned copy.
    const buf = new Uint8Array(19);
    buf.set([0x00, 0x3c, ...new Array(16).fill(0x9a)], 1);
    expect(Array.from(k.dequantize(2, buf.subarray(1), 32))).toEqual(Array.from(k.dequantize(2, buf.slice(1), 32)));
  });
});

function idName(id: number): string {
  const names: Record<number, string> = { 0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 20: "IQ4_NL", 23: "IQ4_XS", 30: "BF16" };
  return names[id] ?? `?${id}`;
}
