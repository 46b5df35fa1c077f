/**
 * A model larger than 4 GiB (a sparse file with a real header and real bytes
 * at the edges of every tensor and across the 4 GiB mark): 64-bit offsets
 * survive the rewrite, the copied bytes land where they belong, holes stay
 * holes, and the rewrite's peak memory does not grow with the model.
 */
import { spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeFileSync, writeSync, ftruncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { addon } from "../src/engine.js";
import { readGguf } from "../src/gguf/read.js";
import { GgufValueType } from "../src/gguf/types.js";
import { kv } from "../src/gguf/value.js";
import { layoutGguf, type GgufTensorSpec } from "../src/gguf/write.js";
import { REPO_ROOT } from "./helpers/data.js";

const dir = mkdtempSync(join(tmpdir(), "shortgpt-large-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const GiB = 1024 ** 3;
const BLOCKS = 5;
// 16384 x 20480 F32 = 1.25 GiB per block tensor: 6.25 GiB in all.
const ROWS = 20480;
const COLS = 16384;
const MARK = 1 << 20; // 1 MiB of real bytes at each edge of each tensor

function pattern(seed: number, length: number): Buffer {
  const b = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeUInt32LE(x >>> 0, i);
  }
  return b;
}

function readAt(path: string, offset: number, length: number): Buffer {
  const fd = openSync(path, "r");
  try {
    const b = Buffer.alloc(length);
    readSync(fd, b, 0, length, offset);
    return b;
  } finally {
    closeSync(fd);
  }
}

describe("a sparse 6.25 GiB model", () => {
  const input = join(dir, "big.gguf");
  const output = join(dir, "big-pruned.gguf");
  const tensors: GgufTensorSpec[] = [{ name: "token_embd.weight", dims: [64, 256], type: 0 }];
  for (let b = 0; b < BLOCKS; b++) {
    tensors.push({ name: `blk.${b}.attn_norm.weight`, dims: [COLS], type: 0 });
    tensors.push({ name: `blk.${b}.ffn_down.weight`, dims: [COLS, ROWS], type: 0 });
  }
  const layout = layoutGguf({
    version: 3,
    kv: [kv.string("general.architecture", "llama"), kv.u32("llama.block_count", BLOCKS), kv.u32("llama.embedding_length", 64)],
    tensors,
  });
  // Real bytes at both edges of every tensor, and straddling the 4 GiB mark.
  const marks: { offset: number; length: number }[] = [];
  tensors.forEach((_t, i) => {
    const start = layout.tensorOffsets[i]!;
    const size = layout.tensorSizes[i]!;
    marks.push({ offset: start, length: Math.min(MARK, size) });
    if (size > MARK) marks.push({ offset: start + size - MARK, length: MARK });
  });
  marks.push({ offset: 4 * GiB - MARK / 2, length: MARK });

  it("has a header that puts tensors beyond 4 GiB", () => {
    expect(layout.fileSize).toBeGreaterThan(6 * GiB);
    expect(layout.tensorOffsets[layout.tensorOffsets.length - 1]!).toBeGreaterThan(4 * GiB);
    const fd = openSync(input, "w");
    try {
      writeSync(fd, layout.header, 0, layout.header.length, 0);
      ftruncateSync(fd, layout.fileSize);
      for (const m of marks) writeSync(fd, pattern(m.offset % 1000003, m.length), 0, m.length, m.offset);
    } finally {
      closeSync(fd);
    }
    const file = readGguf(input);
    expect(file.fileSize).toBe(layout.fileSize);
    const model = new (addon().MappedModel)(input, file.tensors.map((t) => ({ ...t, dims: [...t.dims] })));
    expect(model.tensorCount).toBe(tensors.length);
    model.close();
  });

  it("prunes block 1 in a child process with bounded peak memory", () => {
    const script = join(dir, "prune-child.mjs");
    writeFileSync(
      script,
      `import { pruneLayers } from ${JSON.stringify(join(REPO_ROOT, "dist", "gguf", "prune.js"))};
       const r = await pruneLayers(${JSON.stringify(input)}, ${JSON.stringify(output)}, [1]);
       console.log(JSON.stringify({ ...r, maxRssKiB: process.resourceUsage().maxRSS }));`,
    );
    const child = spawnSync(process.execPath, [script], { encoding: "utf8", timeout: 600_000 });
    expect(child.stderr).toBe("");
    expect(child.status).toBe(0);
    const result = JSON.parse(child.stdout) as { blocksAfter: number; bytesAfter: number; maxRssKiB: number; seconds: number };
    expect(result.blocksAfter).toBe(BLOCKS - 1);
    console.log(`[prune-large] 6.25 GiB sparse model: ${result.seconds.toFixed(2)} s, peak RSS ${(result.maxRssKiB / 1024).toFixed(0)} MiB`);
    // Node itself takes ~50 MiB; the rewrite buffers at most 8 MiB. 150 MiB
    // catches anything that scales with the 6 GiB model.
    expect(result.maxRssKiB * 1024).toBeLessThan(150 * 1024 * 1024);
  });

  it("moved every marked byte to its new offset, including beyond 4 GiB", () => {
    const src = readGguf(input);
    const dst = readGguf(output);
    expect(dst.get("llama.block_count")).toMatchObject({ type: GgufValueType.UINT32, value: BLOCKS - 1 });
    expect(dst.tensors.some((t) => t.offset + t.size > 4 * GiB)).toBe(true);
    const rename = (name: string) => name.replace(/^blk\.(\d+)\./, (_m, i: string) => `blk.${Number(i) > 1 ? Number(i) - 1 : Number(i)}.`);
    let checked = 0;
    for (const t of src.tensors) {
      if (t.name.startsWith("blk.1.")) continue;
      const d = dst.tensors.find((x) => x.name === rename(t.name))!;
      expect(d.size).toBe(t.size);
      for (const m of marks) {
        const start = Math.max(m.offset, t.offset);
        const end = Math.min(m.offset + m.length, t.offset + t.size);
        if (end <= start) continue;
        const length = Math.min(end - start, 64 * 1024);
        expect(readAt(output, d.offset + (start - t.offset), length).equals(readAt(input, start, length)), t.name).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(8);
  });

  it("kept the holes: the output uses a fraction of its size on disk", () => {
    const st = statSync(output);
    expect(st.size).toBeGreaterThan(3.5 * GiB);
    expect(st.blocks * 512).toBeLessThan(0.1 * st.size);
  });
});
