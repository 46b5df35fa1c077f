/**
 * Headers that claim more than a file can sensibly hold: huge tensor and
 * metadata counts, and block counts beyond llama.cpp's 512 or beyond the
 * tensors present. Each is refused fast, with a typed error, in a process
 * whose heap is capped far below what the claims would have cost (the reader
 * once took 3 GB for 7 million tensor infos, and inspect ran out of heap on
 * block_count 2^32 - 1).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { readGguf, GGUF_LIMITS } from "../src/gguf/read.js";
import { buildRawGguf, tinyLlamaSpec, type RawFileSpec } from "./helpers/gguf-builder.js";
import { runCli } from "./helpers/cli.js";

const dir = mkdtempSync(join(tmpdir(), "shortgpt-limits-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A heap this small holds the CLI itself but not the structures a hostile header asks for. */
const SMALL_HEAP = ["--max-old-space-size=64"];

function withBlockCount(blocks: number, claimed: number): RawFileSpec {
  const spec = tinyLlamaSpec(blocks);
  return { ...spec, kv: spec.kv.map(([k, v]) => (k === "llama.block_count" ? [k, { t: "u32", v: claimed }] : [k, v])) };
}

function write(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

/**
 * A valid GGUF with `n` one-element F32 tensors: every tensor info real
 * (unique names, contiguous aligned offsets), so only a count limit stops it.
 */
function manyTensors(n: number): Buffer {
  const names = Array.from({ length: n }, (_, i) => `t${i}`);
  const headerBytes = 4 + 4 + 8 + 8 + names.reduce((a, s) => a + 8 + s.length + 4 + 8 + 4 + 8, 0);
  const dataStart = Math.ceil(headerBytes / 32) * 32;
  const b = Buffer.alloc(dataStart + n * 32);
  let at = 0;
  b.write("GGUF", at, "latin1");
  at = b.writeUInt32LE(3, 4);
  at = b.writeBigInt64LE(BigInt(n), at);
  at = b.writeBigInt64LE(0n, at);
  names.forEach((name, i) => {
    at = b.writeBigUInt64LE(BigInt(name.length), at);
    at += b.write(name, at, "latin1");
    at = b.writeUInt32LE(1, at); // n_dims
    at = b.writeBigInt64LE(1n, at); // ne[0]
    at = b.writeInt32LE(0, at); // F32
    at = b.writeBigUInt64LE(BigInt(i * 32), at);
  });
  return b;
}

describe("count limits", () => {
  it("refuses more tensors than GGUF_LIMITS.maxTensors before parsing them, even when the file really holds them", () => {
    const path = write("many-tensors.gguf", manyTensors(GGUF_LIMITS.maxTensors + 1));
    expect(() => readGguf(path)).toThrow(expect.objectContaining({ code: "ERR_GGUF_LIMIT", message: expect.stringContaining(`${GGUF_LIMITS.maxTensors + 1}`) }));
    const r = runCli(["inspect", path, "--json"], { nodeArgs: SMALL_HEAP });
    expect(r.stderr).toContain("ERR_GGUF_LIMIT");
    expect(r.code).toBe(1);
  });

  it("reads a file at the limit's scale of a real model (thousands of tensors)", () => {
    const path = write("some-tensors.gguf", manyTensors(20_000));
    expect(readGguf(path).tensors).toHaveLength(20_000);
  });

  it("refuses more metadata entries than GGUF_LIMITS.maxKv", () => {
    const kv: RawFileSpec["kv"] = [["general.architecture", { t: "str", v: "llama" }]];
    for (let i = 0; i < GGUF_LIMITS.maxKv; i++) kv.push([`k${i}`, { t: "u8", v: 0 }]);
    const path = write("many-kv.gguf", buildRawGguf({ kv, tensors: [] }).bytes);
    expect(() => readGguf(path)).toThrow(expect.objectContaining({ code: "ERR_GGUF_LIMIT" }));
  });
});

describe("block_count", () => {
  for (const claimed of [2 ** 32 - 1, 16_000_000, 513, 0]) {
    it(`${claimed}: inspect and prune refuse with ERR_GGUF_BLOCK_COUNT in a small heap`, () => {
      const path = write(`blocks-${claimed}.gguf`, buildRawGguf(withBlockCount(3, claimed)).bytes);
      for (const args of [["inspect", path], ["inspect", path, "--json"], ["prune", path, "-o", join(dir, `out-${claimed}.gguf`), "--layers", "1"]]) {
        const r = runCli(args, { nodeArgs: SMALL_HEAP });
        expect(r.stderr, args.join(" ")).toContain("ERR_GGUF_BLOCK_COUNT");
        expect(r.stderr).toContain("llama.block_count");
        expect(r.code).toBe(1);
      }
    });
  }

  it("a count within 1..512 that the tensors do not back: inspect reports it, prune refuses to write it on", () => {
    const path = write("blocks-400.gguf", buildRawGguf(withBlockCount(3, 400)).bytes);
    const inspect = runCli(["inspect", path, "--json"], { nodeArgs: SMALL_HEAP });
    expect(inspect.code).toBe(0);
    expect(JSON.parse(inspect.stdout)).toMatchObject({ blockCount: 400 });
    const out = join(dir, "out-400.gguf");
    const prune = runCli(["prune", path, "-o", out, "--layers", "1"], { nodeArgs: SMALL_HEAP });
    expect(prune.code).toBe(1);
    expect(prune.stderr).toContain("ERR_GGUF_BLOCK_COUNT");
    expect(prune.stderr).toContain("only 3 blocks have tensors (none for block 3, 4, 5, ...)");
  });
});
