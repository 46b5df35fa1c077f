/**
 * Malformed GGUF input: every case must give a typed error (a GgufError or a
 * native error with a stable code), never a crash, and never leave an output
 * file behind. Files are built field by field (helpers/gguf-builder.ts).
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { addon } from "../src/engine.js";
import { GgufError } from "../src/errors.js";
import { pruneLayers } from "../src/gguf/prune.js";
import { readGguf } from "../src/gguf/read.js";
import { buildRawGguf, tinyLlamaSpec, type RawFileSpec, type RawValue } from "./helpers/gguf-builder.js";

const dir = mkdtempSync(join(tmpdir(), "shortgpt-malformed-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let counter = 0;
function writeFile(bytes: Uint8Array): string {
  const path = join(dir, `case-${counter++}.gguf`);
  writeFileSync(path, bytes);
  return path;
}

function expectGgufError(path: string, code: string | readonly string[]): GgufError {
  const codes = typeof code === "string" ? [code] : code;
  let caught: unknown;
  try {
    readGguf(path);
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected ${codes.join(" or ")}`).toBeInstanceOf(GgufError);
  expect(codes).toContain((caught as GgufError).code);
  expect((caught as GgufError).message).toContain(path);
  return caught as GgufError;
}

async function expectNoOutput(path: string, code: string): Promise<void> {
  const out = join(dir, `out-${counter++}.gguf`);
  await expect(pruneLayers(path, out, [0])).rejects.toMatchObject({ code });
  expect(existsSync(out)).toBe(false);
  expect(readdirSync(dir).filter((f) => f.includes(".shortgpt-"))).toEqual([]);
}

const valid = tinyLlamaSpec(3);

describe("a valid synthetic file", () => {
  it("reads, and its header fields are where the builder says", () => {
    const { bytes } = buildRawGguf(valid);
    const file = readGguf(writeFile(bytes));
    expect(file.tensors.map((t) => t.name)).toContain("blk.2.ffn_down.weight");
    expect(file.get("llama.block_count")?.value).toBe(3);
  });
});

describe("truncation", () => {
  // A cut file either ends mid-field, or a count/length read before the cut
  // becomes impossible for the bytes that remain: both are reported as such.
  const TRUNCATION_CODES = ["ERR_GGUF_TRUNCATED", "ERR_GGUF_COUNT", "ERR_GGUF_STRING_LENGTH", "ERR_GGUF_ARRAY_LENGTH"];

  it("at every byte of the header gives a truncation error, never a crash", () => {
    const { bytes, headerSize, boundaries } = buildRawGguf(valid);
    expect(boundaries.length).toBeGreaterThan(40);
    const seen = new Set<string>();
    for (let cut = 0; cut < headerSize; cut++) {
      const err = expectGgufError(writeFile(bytes.subarray(0, cut)), TRUNCATION_CODES);
      expect(err.offset).toBeLessThanOrEqual(cut);
      seen.add(err.code);
    }
    // Cuts inside the tensor table, after every count was checked, end mid-field.
    expect(seen).toContain("ERR_GGUF_TRUNCATED");
  });

  it("inside tensor data names the tensor that runs past the end", () => {
    const { bytes } = buildRawGguf(valid);
    const err = expectGgufError(writeFile(bytes.subarray(0, bytes.length - 40)), "ERR_GGUF_TRUNCATED");
    expect(err.message).toContain("output_norm.weight");
  });

  it("leaves no output when pruning a truncated file", async () => {
    const { bytes } = buildRawGguf(valid);
    await expectNoOutput(writeFile(bytes.subarray(0, bytes.length - 40)), "ERR_GGUF_TRUNCATED");
  });
});

interface Case {
  name: string;
  spec: RawFileSpec;
  code: string;
  contains?: string;
}

function withKv(extra: [string, RawValue][]): RawFileSpec {
  return { ...valid, kv: [...valid.kv, ...extra] };
}

const cases: Case[] = [
  { name: "bad magic", spec: { ...valid, magic: "GGML" }, code: "ERR_GGUF_MAGIC" },
  { name: "version 0", spec: { ...valid, version: 0 }, code: "ERR_GGUF_VERSION" },
  { name: "version 1", spec: { ...valid, version: 1 }, code: "ERR_GGUF_VERSION" },
  { name: "version 4", spec: { ...valid, version: 4 }, code: "ERR_GGUF_VERSION" },
  { name: "byte-swapped version", spec: { ...valid, version: 0x03000000 }, code: "ERR_GGUF_ENDIAN" },
  { name: "absurd tensor count", spec: { ...valid, tensorCount: 2n ** 62n }, code: "ERR_GGUF_COUNT" },
  { name: "negative tensor count", spec: { ...valid, tensorCount: -1n }, code: "ERR_GGUF_COUNT" },
  { name: "absurd kv count", spec: { ...valid, kvCount: 1_000_000_000 }, code: "ERR_GGUF_COUNT" },
  {
    name: "string longer than the file",
    spec: withKv([["general.url", { t: "raw", type: 8, bytes: Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]) }]]),
    code: "ERR_GGUF_STRING_LENGTH",
  },
  {
    name: "string over the 1 GiB limit",
    spec: withKv([["general.url", { t: "raw", type: 8, bytes: Buffer.from([0, 0, 0, 0, 0, 0, 0, 0x10]) }]]),
    code: "ERR_GGUF_STRING_LENGTH",
  },
  {
    name: "array count beyond the file",
    spec: withKv([["llama.x", { t: "raw", type: 9, bytes: Buffer.concat([Buffer.from([4, 0, 0, 0]), Buffer.from([0, 0, 0, 0, 1, 0, 0, 0])]) }]]),
    code: "ERR_GGUF_ARRAY_LENGTH",
  },
  {
    name: "array of strings whose count exceeds the bytes left",
    spec: withKv([["llama.x", { t: "raw", type: 9, bytes: Buffer.concat([Buffer.from([8, 0, 0, 0]), Buffer.from([0, 0, 0, 0x10, 0, 0, 0, 0])]) }]]),
    code: "ERR_GGUF_ARRAY_LENGTH",
  },
  { name: "unknown value type 13", spec: withKv([["llama.x", { t: "raw", type: 13, bytes: Buffer.alloc(4) }]]), code: "ERR_GGUF_VALUE_TYPE" },
  { name: "negative value type", spec: withKv([["llama.x", { t: "raw", type: -1, bytes: Buffer.alloc(4) }]]), code: "ERR_GGUF_VALUE_TYPE" },
  { name: "nested array", spec: withKv([["llama.x", { t: "arr", item: 9, values: [] }]]), code: "ERR_GGUF_VALUE_TYPE" },
  { name: "unknown array element type", spec: withKv([["llama.x", { t: "arr", item: 77, values: [] }]]), code: "ERR_GGUF_VALUE_TYPE" },
  { name: "empty key", spec: withKv([["", { t: "u32", v: 1 }]]), code: "ERR_GGUF_KEY" },
  { name: "duplicate key", spec: withKv([["general.name", { t: "str", v: "again" }]]), code: "ERR_GGUF_DUPLICATE_KEY", contains: "general.name" },
  { name: "alignment not a power of two", spec: { ...withKv([["general.alignment", { t: "u32", v: 48 }]]), alignment: 48 }, code: "ERR_GGUF_ALIGNMENT" },
  { name: "alignment zero", spec: withKv([["general.alignment", { t: "u32", v: 0 }]]), code: "ERR_GGUF_ALIGNMENT" },
  { name: "alignment stored as u64", spec: withKv([["general.alignment", { t: "u64", v: 32n }]]), code: "ERR_GGUF_ALIGNMENT" },
  { name: "alignment stored as a string", spec: withKv([["general.alignment", { t: "str", v: "32" }]]), code: "ERR_GGUF_ALIGNMENT" },
];

function tensorCase(name: string, mutate: (t: RawFileSpec["tensors"]) => RawFileSpec["tensors"], code: string, contains?: string): Case {
  return { name, spec: { ...valid, tensors: mutate(valid.tensors.map((t) => ({ ...t }))) }, code, ...(contains ? { contains } : {}) };
}

cases.push(
  tensorCase("unknown tensor type 99", (t) => ((t[1]!.type = 99), t), "ERR_GGUF_TENSOR_TYPE", "blk.0.attn_norm.weight"),
  tensorCase("removed tensor type 4", (t) => ((t[1]!.type = 4), t), "ERR_GGUF_TENSOR_TYPE"),
  tensorCase("removed tensor type 31", (t) => ((t[1]!.type = 31), t), "ERR_GGUF_TENSOR_TYPE"),
  tensorCase("negative tensor type", (t) => ((t[1]!.type = -3), t), "ERR_GGUF_TENSOR_TYPE"),
  tensorCase("duplicate tensor name", (t) => ((t[2]!.name = t[1]!.name), t), "ERR_GGUF_DUPLICATE_TENSOR", "blk.0.attn_norm.weight"),
  tensorCase("tensor name of 64 bytes", (t) => ((t[0]!.name = "x".repeat(64)), t), "ERR_GGUF_TENSOR_NAME"),
  tensorCase("five dimensions", (t) => ((t[1]!.dims = [8, 1, 1, 1, 1]), t), "ERR_GGUF_TENSOR_DIMS"),
  tensorCase("negative dimension", (t) => ((t[1]!.dims = [-8]), t), "ERR_GGUF_TENSOR_DIMS"),
  tensorCase("element count overflowing int64", (t) => ((t[1]!.dims = [2n ** 40n, 2n ** 40n]), t), "ERR_GGUF_TENSOR_DIMS"),
  tensorCase("ne[0] not a multiple of the Q8_0 block", (t) => ((t[2]!.dims = [33, 8]), t), "ERR_GGUF_TENSOR_DIMS"),
  tensorCase("offset out of order", (t) => ((t[2]!.offset = 0), t), "ERR_GGUF_TENSOR_OFFSET", "blk.0.ffn_down.weight"),
  tensorCase("overlapping tensors", (t) => ((t[2]!.offset = Number(t[2]!.offset) - 32), t), "ERR_GGUF_TENSOR_OFFSET"),
  tensorCase("gap between tensors", (t) => ((t[2]!.offset = Number(t[2]!.offset) + 32), t), "ERR_GGUF_TENSOR_OFFSET"),
  tensorCase("offset far outside the file", (t) => ((t[t.length - 1]!.offset = 2n ** 40n), t), "ERR_GGUF_TENSOR_OFFSET"),
);

describe.each(cases)("$name", ({ spec, code, contains }) => {
  it(`gives ${code} from the reader`, () => {
    const { bytes } = buildRawGguf(spec.tensors === valid.tensors ? spec : { ...spec, dataBytes: 4096 });
    const err = expectGgufError(writeFile(bytes), code);
    if (contains) expect(err.message).toContain(contains);
  });

  it("leaves no output file when pruned", async () => {
    const { bytes } = buildRawGguf(spec.tensors === valid.tensors ? spec : { ...spec, dataBytes: 4096 });
    await expectNoOutput(writeFile(bytes), code);
  });
});

describe("the native validator (trusts nothing it did not check)", () => {
  const { bytes } = buildRawGguf(valid);
  const path = writeFile(bytes);
  const file = readGguf(path);
  const table = () => file.tensors.map((t) => ({ name: t.name, type: t.type, dims: [...t.dims], offset: t.offset, size: t.size }));

  function expectNative(mutate: (t: ReturnType<typeof table>) => void, code: string, filePath = path): void {
    const t = table();
    mutate(t);
    let caught: unknown;
    try {
      new (addon().MappedModel)(filePath, t);
    } catch (error) {
      caught = error;
    }
    expect(caught, `expected ${code}`).toBeInstanceOf(Error);
    expect((caught as { code?: string }).code).toBe(code);
  }

  it("accepts the table the reader produced", () => {
    const model = new (addon().MappedModel)(path, table());
    expect(model.tensorCount).toBe(file.tensors.length);
    expect(model.fileSize).toBe(bytes.length);
    model.close();
    expect(() => model.tensorCount).toThrow(/closed/);
  });

  it("refuses a tensor past the end of the file", () => expectNative((t) => (t[3]!.offset = bytes.length - 8), "ERR_TENSOR_BOUNDS"));
  it("refuses an offset beyond the file", () => expectNative((t) => (t[3]!.offset = 2 ** 50), "ERR_TENSOR_BOUNDS"));
  it("refuses overlapping tensors", () => expectNative((t) => (t[2]!.offset = t[1]!.offset), "ERR_TENSOR_OVERLAP"));
  it("refuses a size that is not type x dims", () => expectNative((t) => (t[1]!.size += 4), "ERR_TENSOR_SIZE"));
  it("refuses an unknown type", () => expectNative((t) => (t[1]!.type = 33), "ERR_GGUF_TENSOR_TYPE"));
  it("refuses ne[0] that is not a multiple of the block", () => expectNative((t) => (t[2]!.dims = [31, 8]), "ERR_GGUF_TENSOR_DIMS"));
  it("refuses more than four dimensions", () => expectNative((t) => (t[1]!.dims = [8, 1, 1, 1, 1]), "ERR_GGUF_TENSOR_DIMS"));
  it("refuses negative dimensions", () => expectNative((t) => (t[1]!.dims = [-8]), "ERR_GGUF_TENSOR_DIMS"));
  it("refuses duplicate names", () => expectNative((t) => (t[2]!.name = t[1]!.name), "ERR_GGUF_DUPLICATE_TENSOR"));
  it("refuses a 64-byte name", () => expectNative((t) => (t[1]!.name = "n".repeat(64)), "ERR_GGUF_TENSOR_NAME"));
  it("refuses a missing file", () => expectNative(() => {}, "ERR_FILE_NOT_FOUND", join(dir, "does-not-exist.gguf")));
  it("refuses a directory", () => expectNative(() => {}, "ERR_FILE_NOT_REGULAR", dir));
  it("refuses non-integer and wrongly typed arguments", () => {
    expectNative((t) => ((t[1] as { offset: unknown }).offset = 1.5), "ERR_INVALID_ARG");
    expectNative((t) => ((t[1] as { name: unknown }).name = 7), "ERR_INVALID_ARG");
    expectNative((t) => ((t[1] as { dims: unknown }).dims = "8"), "ERR_INVALID_ARG");
    expect(() => new (addon().MappedModel)(path, "nope" as never)).toThrow(expect.objectContaining({ code: "ERR_INVALID_ARG" }));
  });
});

describe("the type tables", () => {
  it("native and TypeScript agree on every ggml type", async () => {
    const { GGML_TYPES } = await import("../src/gguf/types.js");
    expect(addon().ggmlTypeTable()).toEqual(GGML_TYPES.map((t) => ({ id: t.id, name: t.name, blockElems: t.blockElems, blockBytes: t.blockBytes })));
  });
});
