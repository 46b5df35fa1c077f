/**
 * The layer-removal rewrite on real models, checked three ways: llama.cpp
 * (node-llama-cpp) loads and runs every pruned file, every kept tensor's bytes
 * equal the source's, and gguf-py reads the result exactly as we do. Plus the
 * metadata rules (per-layer arrays, dense-lead counts, MTP, index patterns),
 * provenance, atomicity and abort.
 */
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { AbortError } from "../src/errors.js";
import { PruneError, planPrune, pruneLayers, REMOVED_LAYERS_KEY, VERSION_KEY } from "../src/gguf/prune.js";
import { readGguf, type GgufFile } from "../src/gguf/read.js";
import { VERSION } from "../src/package-info.js";
import { buildRawGguf, tinyLlamaSpec, type RawValue } from "./helpers/gguf-builder.js";
import { GEMMA3_PATH, SHARED_DATA, SMOLLM2_PATH, STORIES_PATH, sharedData } from "./helpers/data.js";
import { ourView, pythonView } from "./helpers/gguf-python.js";
import { generateGreedy, loadReferenceModel } from "./helpers/llama-reference.js";

const dir = mkdtempSync(join(tmpdir(), "shortgpt-prune-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function tensorBytes(file: GgufFile, name: string): Buffer {
  const t = file.tensors.find((x) => x.name === name);
  if (!t) throw new Error(`no tensor ${name} in ${file.path}`);
  const fd = openSync(file.path, "r");
  try {
    const buf = Buffer.alloc(t.size);
    readSync(fd, buf, 0, t.size, t.offset);
    return buf;
  } finally {
    closeSync(fd);
  }
}

function digest(buf: Uint8Array): string {
  return createHash("sha256").update(buf).digest("hex");
}

/** Every kept tensor of `pruned` has the bytes of the source tensor it was renamed from. */
function expectKeptTensorsUnchanged(source: GgufFile, pruned: GgufFile, removed: readonly number[]): void {
  const removedSet = new Set(removed);
  const blockCount = Number(source.get(`${source.get("general.architecture")!.value}.block_count`)!.value);
  const map = new Map<number, number>();
  for (let i = 0, n = 0; i < blockCount; i++) if (!removedSet.has(i)) map.set(i, n++);
  const expectedNames: string[] = [];
  for (const t of source.tensors) {
    const m = /^blk\.(\d+)\.(.+)$/.exec(t.name);
    if (m && removedSet.has(Number(m[1]))) continue;
    const name = m ? `blk.${map.get(Number(m[1]))}.${m[2]}` : t.name;
    expectedNames.push(name);
    expect(digest(tensorBytes(pruned, name)), name).toBe(digest(tensorBytes(source, t.name)));
  }
  expect(pruned.tensors.map((t) => t.name)).toEqual(expectedNames);
}

async function generateWithLlama(path: string, text: string, count = 16): Promise<number[]> {
  const model = await loadReferenceModel(path);
  try {
    const prompt = [...(model.tokens.bos !== null && model.tokens.shouldPrependBosToken ? [model.tokens.bos] : []), ...model.tokenize(text)];
    return await generateGreedy(model, prompt as number[], count);
  } finally {
    await model.dispose();
  }
}

const realCases = [
  { name: "SmolLM2-135M (llama, Q4_1)", path: SMOLLM2_PATH, layers: [20, 21, 22, 23, 24, 25, 26, 27, 28], blocksAfter: 21, needsShared: false },
  { name: "Gemma 3 270M (gemma3, Q4_K_M)", path: GEMMA3_PATH, layers: [6, 7, 8, 9, 10, 11], blocksAfter: 12, needsShared: false },
  { name: "stories260K (llama, F32)", path: STORIES_PATH, layers: [2, 3], blocksAfter: 3, needsShared: true },
];

describe.each(realCases)("$name", ({ path, layers, blocksAfter, needsShared }) => {
  const skip = needsShared && !SHARED_DATA;
  const out = join(dir, `${digest(Buffer.from(path)).slice(0, 8)}-pruned.gguf`);

  it.skipIf(skip)("prunes, keeps the input untouched, and fixes the metadata", async () => {
    const before = digest(readFileSync(path));
    const result = await pruneLayers(path, out, layers);
    expect(digest(readFileSync(path))).toBe(before);
    expect(result.removed).toEqual(layers);
    expect(result.blocksAfter).toBe(blocksAfter);
    const pruned = readGguf(out);
    const arch = pruned.get("general.architecture")!.value as string;
    const count = pruned.get(`${arch}.block_count`)!;
    expect(count.value).toBe(blocksAfter);
    expect(count.type).toBe(4); // UINT32
    expect(Array.from(pruned.get(REMOVED_LAYERS_KEY)!.value as Uint32Array)).toEqual(layers);
    expect(pruned.get(VERSION_KEY)!.value).toBe(VERSION);
    expect(result.bytesAfter).toBe(pruned.fileSize);
    // Parameters counted independently: every tensor's elements, input vs the file as written.
    const elements = (f: GgufFile) => f.tensors.reduce((n, t) => n + t.dims.reduce((a, d) => a * d, 1), 0);
    expect(result.parametersBefore).toBe(elements(readGguf(path)));
    expect(result.parametersAfter).toBe(elements(pruned));
    expect(result.parametersAfter).toBeLessThan(result.parametersBefore);
    expect(readdirSync(dir).filter((f) => f.includes(".shortgpt-"))).toEqual([]);
  });

  it.skipIf(skip)("keeps every remaining tensor's bytes unchanged", () => {
    expectKeptTensorsUnchanged(readGguf(path), readGguf(out), layers);
  });

  it.skipIf(skip)("is read identically by gguf-py", async () => {
    expect(ourView(readGguf(out))).toEqual(await pythonView(out));
  });

  it.skipIf(skip)("loads and generates in llama.cpp", async () => {
    const ids = await generateWithLlama(out, "Once upon a time");
    expect(ids.length).toBe(16);
  });
});

describe.skipIf(!SHARED_DATA)("stories260K against independent pruned-model outputs", () => {
  const reference = SHARED_DATA
    ? (JSON.parse(readFileSync(sharedData("models/stories260K.block_influence.json"), "utf8")) as {
        pruned_greedy: { runs: { removed_blocks: number[]; block_count: number; input_ids: number[]; continuation_ids: number[] }[] };
      })
    : undefined;
  const runs = reference?.pruned_greedy.runs ?? [];

  it("has reference runs", () => expect(runs.length).toBeGreaterThanOrEqual(5));

  it.each(runs.map((r) => ({ ...r, label: r.removed_blocks.join("+") })))("removing $label gives llama.cpp's greedy continuation", async (run) => {
    const out = join(dir, `stories-minus-${run.label}.gguf`);
    await pruneLayers(STORIES_PATH, out, run.removed_blocks);
    expect(readGguf(out).get("llama.block_count")!.value).toBe(run.block_count);
    const model = await loadReferenceModel(out);
    try {
      expect(await generateGreedy(model, run.input_ids, run.continuation_ids.length)).toEqual(run.continuation_ids);
    } finally {
      await model.dispose();
    }
  });
});

describe("Gemma 3's sliding-window pattern", () => {
  it("refuses --layers 3 and names a valid alternative", async () => {
    const out = join(dir, "gemma-3.gguf");
    const err = await pruneLayers(GEMMA3_PATH, out, [3]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PruneError);
    expect((err as PruneError).code).toBe("ERR_PRUNE_PATTERN");
    expect((err as PruneError).message).toMatch(/Nearest valid set: 3-8/);
    expect((err as PruneError).suggestions[0]).toEqual([3, 4, 5, 6, 7, 8]);
    expect(existsSync(out)).toBe(false);
  });

  it("accepts any run reaching the last block", () => {
    expect(planPrune(readGguf(GEMMA3_PATH), [15, 16, 17]).blocksAfter).toBe(15);
  });

  it("writes the pattern-breaking set with force, with the problem as a warning", async () => {
    const out = join(dir, "gemma-forced.gguf");
    const result = await pruneLayers(GEMMA3_PATH, out, [3], { force: true });
    expect(result.warnings.join(" ")).toMatch(/sliding-window period 6/);
    expect(readGguf(out).get("gemma3.block_count")!.value).toBe(17);
  });
});

describe("metadata rules on synthetic models", () => {
  function synthetic(name: string, blocks: number, kv: [string, RawValue][] = [], arch = "llama"): string {
    const path = join(dir, `${name}.gguf`);
    writeFileSync(path, buildRawGguf(tinyLlamaSpec(blocks, kv, arch)).bytes);
    return path;
  }
  const u32s = (values: number[]): RawValue => ({ t: "arr", item: 4, values: values.map((v) => ({ t: "u32", v })) });
  const i32s = (values: number[]): RawValue => ({ t: "arr", item: 5, values: values.map((v) => ({ t: "i32", v })) });

  it("slices per-layer arrays and keeps their element type", async () => {
    const input = synthetic("arrays", 6, [
      ["llama.feed_forward_length", u32s([10, 11, 12, 13, 14, 15])],
      ["llama.attention.head_count_kv", i32s([1, 2, 3, 4, 5, 6])],
      ["llama.rope.dimension_sections", i32s([1, 2, 3, 4, 5, 6])],
    ]);
    const out = join(dir, "arrays-pruned.gguf");
    const result = await pruneLayers(input, out, [1, 4]);
    const pruned = readGguf(out);
    expect(Array.from(pruned.get("llama.feed_forward_length")!.value as Uint32Array)).toEqual([10, 12, 13, 15]);
    const kv = pruned.get("llama.attention.head_count_kv")!;
    expect(kv.value).toBeInstanceOf(Int32Array);
    expect(Array.from(kv.value as Int32Array)).toEqual([1, 3, 4, 6]);
    // Not per block even though its length matches: left alone.
    expect(Array.from(pruned.get("llama.rope.dimension_sections")!.value as Int32Array)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(result.changes).toContain("llama.feed_forward_length: sliced to 4 entries");
    expect(ourView(pruned)).toEqual(await pythonView(out));
  });

  it("updates leading_dense_block_count and protects MTP blocks", async () => {
    const input = synthetic("deepseek", 8, [
      ["deepseek2.leading_dense_block_count", { t: "u32", v: 3 }],
      ["deepseek2.nextn_predict_layers", { t: "u32", v: 1 }],
      ["deepseek2.expert_gating_func", { t: "u32", v: 2 }],
    ], "deepseek2");
    const out = join(dir, "deepseek-pruned.gguf");
    await pruneLayers(input, out, [1, 5]);
    const pruned = readGguf(out);
    expect(pruned.get("deepseek2.leading_dense_block_count")!.value).toBe(2);
    expect(pruned.get("deepseek2.block_count")!.value).toBe(6);
    await expect(pruneLayers(input, join(dir, "mtp.gguf"), [7])).rejects.toMatchObject({ code: "ERR_PRUNE_MTP" });
    expect(existsSync(join(dir, "mtp.gguf"))).toBe(false);
  });

  it("refuses to change deepseek2's lite status or to prune without its gating key", () => {
    const noGating = readGguf(synthetic("deepseek-nogating", 30, [], "deepseek2"));
    expect(() => planPrune(noGating, [0])).toThrow(expect.objectContaining({ code: "ERR_PRUNE_MISSING_KEY" }));
    const withGating = readGguf(synthetic("deepseek-30", 30, [["deepseek2.expert_gating_func", { t: "u32", v: 2 }]], "deepseek2"));
    expect(() => planPrune(withGating, [0, 1, 2])).toThrow(expect.objectContaining({ code: "ERR_PRUNE_BLOCK_COUNT_RULE" }));
    expect(planPrune(withGating, [0]).blocksAfter).toBe(29);
  });

  it("refuses an architecture it has no rules for, unless forced", async () => {
    const input = synthetic("mystery", 4, [], "mysterynet");
    await expect(pruneLayers(input, join(dir, "m.gguf"), [1])).rejects.toMatchObject({ code: "ERR_UNSUPPORTED_ARCH" });
    const result = await pruneLayers(input, join(dir, "m.gguf"), [1], { force: true });
    expect(result.blocksAfter).toBe(3);
  });

  it("refuses out-of-range, empty and all-block removals", () => {
    const file = readGguf(synthetic("ranges", 4));
    expect(() => planPrune(file, [4])).toThrow(expect.objectContaining({ code: "ERR_PRUNE_LAYER_RANGE" }));
    expect(() => planPrune(file, [])).toThrow(expect.objectContaining({ code: "ERR_PRUNE_EMPTY" }));
    expect(() => planPrune(file, [0, 1, 2, 3], { force: true })).toThrow(expect.objectContaining({ code: "ERR_PRUNE_ALL" }));
  });

  it("records original indices when a pruned file is pruned again", async () => {
    const input = synthetic("twice", 6);
    const once = join(dir, "twice-1.gguf");
    const twice = join(dir, "twice-2.gguf");
    await pruneLayers(input, once, [1]);
    await pruneLayers(once, twice, [1, 3]); // blocks 1 and 3 of the 5 left are originals 2 and 4
    expect(Array.from(readGguf(twice).get(REMOVED_LAYERS_KEY)!.value as Uint32Array)).toEqual([1, 2, 4]);
    expect(readGguf(twice).tensors.filter((t) => t.name.startsWith("blk.")).length).toBe(3 * 2);
  });
});

describe("safety", () => {
  it("refuses to write over the input, also through a symlink", async () => {
    const input = join(dir, "self.gguf");
    writeFileSync(input, buildRawGguf(tinyLlamaSpec(3)).bytes);
    const before = digest(readFileSync(input));
    await expect(pruneLayers(input, input, [1])).rejects.toMatchObject({ code: "ERR_OUTPUT_IS_INPUT" });
    const link = join(dir, "self-link.gguf");
    symlinkSync(input, link);
    await expect(pruneLayers(input, link, [1])).rejects.toMatchObject({ code: "ERR_OUTPUT_IS_INPUT" });
    expect(digest(readFileSync(input))).toBe(before);
  });

  it("names the output path and the reason when it cannot be written, and leaves nothing behind", async () => {
    const input = join(dir, "unwritable-in.gguf");
    writeFileSync(input, buildRawGguf(tinyLlamaSpec(3)).bytes);
    const missing = join(dir, "no-such-folder", "out.gguf");
    const err = (await pruneLayers(input, missing, [1]).catch((e: unknown) => e)) as { code: string; message: string };
    expect(err.code).toBe("ERR_FILE_OPEN");
    expect(err.message).toContain(`cannot write ${missing}: its folder ${join(dir, "no-such-folder")} does not exist`);
    expect(err.message).not.toContain(".tmp");
    // An existing folder where the file should go: refused before anything is written.
    const folder = join(dir, "a-folder.gguf");
    mkdirSync(folder);
    const isDir = (await pruneLayers(input, folder, [1]).catch((e: unknown) => e)) as { code: string; message: string };
    expect(isDir.code).toBe("ERR_FILE_NOT_REGULAR");
    expect(isDir.message).toContain(`cannot write ${folder}: it is a folder`);
    expect(readdirSync(dir).filter((f) => f.includes(".shortgpt-"))).toEqual([]);
  });

  it("replaces an existing output atomically", async () => {
    const input = join(dir, "atomic-in.gguf");
    writeFileSync(input, buildRawGguf(tinyLlamaSpec(3)).bytes);
    const out = join(dir, "atomic-out.gguf");
    writeFileSync(out, "old contents");
    await pruneLayers(input, out, [0]);
    expect(readGguf(out).get("llama.block_count")!.value).toBe(2);
  });

  it("aborts mid-write with AbortError, leaves nothing behind, and the next call works", async () => {
    const out = join(dir, "aborted.gguf");
    const controller = new AbortController();
    let progressCalls = 0;
    const err = await pruneLayers(GEMMA3_PATH, out, [12, 13, 14, 15, 16, 17], {
      signal: controller.signal,
      onProgress: () => {
        progressCalls++;
        controller.abort();
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(progressCalls).toBeGreaterThan(0);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes(".shortgpt-"))).toEqual([]);
    const again = await pruneLayers(GEMMA3_PATH, out, [12, 13, 14, 15, 16, 17]);
    expect(again.blocksAfter).toBe(12);
  });

  it("rejects an already-aborted signal before touching the disk", async () => {
    const out = join(dir, "pre-aborted.gguf");
    await expect(pruneLayers(SMOLLM2_PATH, out, [1], { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
    expect(existsSync(out)).toBe(false);
  });
});
