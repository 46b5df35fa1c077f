/**
 * Files that change or are not what they seem: a model that shrinks while it
 * is being copied or while it is open, FIFOs and devices given as models or
 * as destinations, and temporary files left by killed processes. Every case
 * ends in a typed error (or a clean write), nothing half-written at the
 * destination, and no crash or hang.
 */
import { execFileSync, spawnSync } from "node:child_process";
import {
  closeSync,
  copyFileSync,
  existsSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { addon } from "../src/engine.js";
import { planPrune, pruneLayers } from "../src/gguf/prune.js";
import { readGguf } from "../src/gguf/read.js";
import { kv } from "../src/gguf/value.js";
import { layoutGguf, writeGguf, type GgufTensorSpec } from "../src/gguf/write.js";
import { cleanStaleTemps, TEMP_MARK, tempPathFor, writeTextAtomic } from "../src/files/output.js";
import { buildRawGguf, tinyLlamaSpec } from "./helpers/gguf-builder.js";
import { REPO_ROOT, SMOLLM2_PATH } from "./helpers/data.js";

const dir = mkdtempSync(join(tmpdir(), "shortgpt-files-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const posix = process.platform !== "win32";
const temps = (folder = dir) => readdirSync(folder).filter((f) => f.includes(TEMP_MARK));

function mkfifo(path: string): void {
  execFileSync("mkfifo", [path]);
}

/** A small valid model (3 blocks, real bytes everywhere). */
function smallModel(name: string): string {
  const path = join(dir, name);
  writeFileSync(path, buildRawGguf(tinyLlamaSpec(3)).bytes);
  return path;
}

/**
 * A sparse model: real bytes in the header and at both ends of one 64 MiB
 * tensor, a hole in between (truncating into the hole is what the old copier
 * mistook for more hole).
 */
function sparseModel(name: string): { path: string; tensorStart: number; fileSize: number } {
  const path = join(dir, name);
  const tensors: GgufTensorSpec[] = [
    { name: "token_embd.weight", dims: [64, 16], type: 0 },
    { name: "blk.0.attn_norm.weight", dims: [64], type: 0 },
    { name: "blk.0.ffn_down.weight", dims: [4096, 4096], type: 0 },
    { name: "blk.1.attn_norm.weight", dims: [64], type: 0 },
  ];
  const layout = layoutGguf({
    version: 3,
    kv: [kv.string("general.architecture", "llama"), kv.u32("llama.block_count", 2), kv.u32("llama.embedding_length", 64)],
    tensors,
  });
  const fd = openSync(path, "w");
  try {
    writeSync(fd, layout.header, 0, layout.header.length, 0);
    ftruncateSync(fd, layout.fileSize);
    const edge = Buffer.alloc(1 << 20, 0x5a);
    const start = layout.tensorOffsets[2]!;
    writeSync(fd, edge, 0, edge.length, start);
    writeSync(fd, edge, 0, edge.length, start + layout.tensorSizes[2]! - edge.length);
  } finally {
    closeSync(fd);
  }
  return { path, tensorStart: layout.tensorOffsets[2]!, fileSize: layout.fileSize };
}

describe("a model that shrinks between reading its header and copying its tensors", () => {
  for (const method of ["kernel", "buffered"] as const) {
    it(`is ERR_FILE_CHANGED with nothing at the destination (${method} copy, cut in the data)`, async () => {
      const input = smallModel(`shrink-${method}.gguf`);
      const plan = planPrune(readGguf(input), [1]);
      truncateSync(input, statSync(input).size - 40); // into the last tensor's bytes
      const out = join(dir, `shrink-${method}-out.gguf`);
      process.env.SHORTGPT_COPY_METHOD = method;
      try {
        // No sourceFiles: the copier itself must notice.
        await expect(writeGguf(out, plan.spec, plan.sources)).rejects.toMatchObject({ code: "ERR_FILE_CHANGED" });
      } finally {
        delete process.env.SHORTGPT_COPY_METHOD;
      }
      expect(existsSync(out)).toBe(false);
      expect(temps()).toEqual([]);
    });

    it(`is ERR_FILE_CHANGED when the cut falls in a hole of a sparse model (${method} copy)`, async () => {
      const { path, tensorStart } = sparseModel(`sparse-${method}.gguf`);
      const plan = planPrune(readGguf(path), [1]);
      truncateSync(path, tensorStart + 32 * 1024 * 1024); // the middle of the hole
      const out = join(dir, `sparse-${method}-out.gguf`);
      process.env.SHORTGPT_COPY_METHOD = method;
      try {
        const err = (await writeGguf(out, plan.spec, plan.sources).catch((e: unknown) => e)) as Error & { code: string };
        expect(err.code).toBe("ERR_FILE_CHANGED");
        expect(err.message).toContain(path);
        expect(err.message).toContain("nothing was written");
      } finally {
        delete process.env.SHORTGPT_COPY_METHOD;
      }
      expect(existsSync(out)).toBe(false);
    });
  }

  it("the copier refuses ranges past the end of the source before copying anything", async () => {
    const input = smallModel("ranges.gguf");
    const size = statSync(input).size;
    const dst = join(dir, "ranges-dst.bin");
    writeFileSync(dst, Buffer.alloc(64));
    await expect(addon().copyRanges(input, dst, Float64Array.of(size - 16, 0, 32))).rejects.toMatchObject({ code: "ERR_FILE_CHANGED" });
    expect(readFileSync(dst).equals(Buffer.alloc(64))).toBe(true);
  });

  it("the writer refuses a source rewritten in place (same size, new contents) since its header was read", async () => {
    const input = smallModel("rewritten.gguf");
    const file = readGguf(input);
    const plan = planPrune(file, [1]);
    // Same size, new modification time: another program wrote the file.
    const later = new Date(Date.now() + 5000);
    utimesSync(input, later, later);
    const out = join(dir, "rewritten-out.gguf");
    await expect(writeGguf(out, plan.spec, plan.sources, { sourceFiles: [file] })).rejects.toMatchObject({
      code: "ERR_FILE_CHANGED",
      message: expect.stringContaining("it was modified"),
    });
    expect(existsSync(out)).toBe(false);
    expect(temps()).toEqual([]);
  });
});

describe.skipIf(!posix)("non-regular files", () => {
  it("a FIFO as the model is refused at once, by the reader, the engine and the copier", async () => {
    const fifo = join(dir, "model.fifo");
    mkfifo(fifo);
    // Each of these used to block in open() until a writer appeared: the test would time out.
    expect(() => readGguf(fifo)).toThrow(expect.objectContaining({ code: "ERR_FILE_NOT_REGULAR", message: expect.stringContaining(fifo) }));
    expect(() => new (addon().MappedModel)(fifo, [])).toThrow(expect.objectContaining({ code: "ERR_FILE_NOT_REGULAR" }));
    const dst = join(dir, "fifo-dst.bin");
    writeFileSync(dst, Buffer.alloc(8));
    await expect(addon().copyRanges(fifo, dst, Float64Array.of(0, 0, 8))).rejects.toMatchObject({ code: "ERR_FILE_NOT_REGULAR" });
  });

  it("the CLI refuses a FIFO or a folder as the model with the path named, and exits 1", () => {
    const fifo = join(dir, "cli.fifo");
    mkfifo(fifo);
    const cli = join(REPO_ROOT, "dist", "cli", "main.js");
    for (const path of [fifo, dir]) {
      const r = spawnSync(process.execPath, [cli, "inspect", path], { encoding: "utf8", timeout: 30_000, env: { ...process.env, NO_COLOR: "1" } });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(path);
      expect(r.stderr).toContain("ERR_FILE_NOT_REGULAR");
    }
  });

  it("prune refuses a symlink, FIFO, folder or a path ending in / as the destination, and replaces a regular file", async () => {
    const input = smallModel("dest-in.gguf");
    const target = join(dir, "dest-target.txt");
    writeFileSync(target, "keep me");
    const link = join(dir, "dest-link.gguf");
    symlinkSync(target, link);
    const fifo = join(dir, "dest.fifo");
    mkfifo(fifo);
    const folder = join(dir, "dest-folder");
    mkdirSync(folder);
    for (const [dest, kind] of [
      [link, "a symbolic link"],
      [fifo, "a FIFO"],
      [folder, "a folder"],
      [`${folder}/`, "names a folder"],
      [`${join(dir, "not-there")}/`, "names a folder"],
    ] as const) {
      const err = (await pruneLayers(input, dest, [1]).catch((e: unknown) => e)) as Error & { code: string };
      expect(err.code, dest).toBe("ERR_FILE_NOT_REGULAR");
      expect(err.message).toContain(dest);
      expect(err.message).toContain(kind);
    }
    expect(readFileSync(target, "utf8")).toBe("keep me");
    expect(statSync(fifo).isFIFO()).toBe(true);
    expect(readdirSync(folder)).toEqual([]);
    expect(temps()).toEqual([]);
    const regular = join(dir, "dest-regular.gguf");
    writeFileSync(regular, "old");
    await pruneLayers(input, regular, [1]);
    expect(readGguf(regular).get("llama.block_count")!.value).toBe(2);
  });

  it("refuses a character device as the destination (-o /dev/null would be replaced as root)", async () => {
    const input = smallModel("dev-in.gguf");
    await expect(pruneLayers(input, "/dev/null", [1])).rejects.toMatchObject({ code: "ERR_FILE_NOT_REGULAR", message: expect.stringContaining("character device") });
    expect(statSync("/dev/null").isCharacterDevice()).toBe(true);
  });
});

describe("temporary files", () => {
  /** A pid that was just used and is gone. */
  function deadPid(): number {
    const r = spawnSync(process.execPath, ["-e", ""]);
    return r.pid!;
  }

  it("are named recognisably, and stale ones of dead processes are removed by the next write in that folder", async () => {
    const folder = join(dir, "stale");
    mkdirSync(folder);
    const out = join(folder, "model.gguf");
    const mine = tempPathFor(out);
    expect(mine).toMatch(new RegExp(`/\\.model\\.gguf\\${TEMP_MARK}[0-9a-f]{8}-${process.pid}-[0-9a-f]{8}$`));
    const dead = mine.replace(`-${process.pid}-`, `-${deadPid()}-`);
    const live = mine.replace(`-${process.pid}-`, `-${process.ppid}-`).replace(/[0-9a-f]{8}$/, "00000000");
    const otherHost = mine.replace(/-tmp-[0-9a-f]{8}-/, "-tmp-00000000-").replace(`-${process.pid}-`, `-${deadPid()}-`);
    const unrelated = join(folder, ".model.gguf.something-else");
    for (const p of [dead, live, otherHost, unrelated]) writeFileSync(p, "x".repeat(1000));
    writeTextAtomic(join(folder, "scores.json"), "{}\n");
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(live)).toBe(true);
    expect(existsSync(otherHost)).toBe(true);
    expect(existsSync(unrelated)).toBe(true);
    // The model writer cleans too.
    writeFileSync(dead, "x");
    await pruneLayers(smallModel("stale-in.gguf"), out, [1]);
    expect(existsSync(dead)).toBe(false);
    expect(cleanStaleTemps(folder)).toEqual([]);
  });

  it("writeTextAtomic replaces a file whole and leaves the old one when it cannot write", () => {
    const path = join(dir, "atomic.json");
    writeFileSync(path, "old");
    writeTextAtomic(path, "new");
    expect(readFileSync(path, "utf8")).toBe("new");
    expect(() => writeTextAtomic(join(dir, "missing-folder", "x.json"), "x")).toThrow(expect.objectContaining({ code: "ERR_FILE_OPEN" }));
    expect(temps()).toEqual([]);
  });
});

describe.skipIf(!posix)("a model truncated while open", () => {
  const child = (script: string, env: Record<string, string> = {}) =>
    spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 240_000, env: { ...process.env, ...env } });
  const modelJs = JSON.stringify(join(REPO_ROOT, "dist", "model.js"));

  it("between calls: the next call is ERR_FILE_CHANGED", async () => {
    const copy = join(dir, "open-truncated.gguf");
    copyFileSync(SMOLLM2_PATH, copy);
    const { openModel } = await import("../src/model.js");
    const model = await openModel(copy, { threads: 1 });
    try {
      await model.logits([1, 2, 3], { positions: [2] });
      truncateSync(copy, 1 << 20);
      await expect(model.logits([1, 2, 3], { positions: [2] })).rejects.toMatchObject({ code: "ERR_FILE_CHANGED", message: expect.stringContaining(copy) });
      await expect(model.hiddenStats([[1, 2, 3]])).rejects.toMatchObject({ code: "ERR_FILE_CHANGED" });
    } finally {
      model.close();
    }
  });

  // In a child process: without the guard the truncation kills the process with SIGBUS.
  const midCall = (copy: string) => `
    import { copyFileSync, truncateSync } from "node:fs";
    import { openModel } from ${modelJs};
    copyFileSync(${JSON.stringify(SMOLLM2_PATH)}, ${JSON.stringify(copy)});
    const model = await openModel(${JSON.stringify(copy)}, { threads: 1, memoryBudget: 16 << 20 });
    const windows = Array.from({ length: 8 }, (_, w) => Array.from({ length: 256 }, (_, i) => 1 + ((w * 256 + i) % 4000)));
    let cut = false;
    try {
      await model.hiddenStats(windows, { onProgress: () => { if (!cut) { cut = true; truncateSync(${JSON.stringify(copy)}, 1 << 20); } } });
      console.log(JSON.stringify({ cut, code: null }));
    } catch (e) {
      console.log(JSON.stringify({ cut, code: e.code, message: e.message }));
    }
    model.close();`;

  it("during a call: the call rejects with ERR_FILE_CHANGED and the process lives", () => {
    const r = child(midCall(join(dir, "mid-call.gguf")));
    expect(r.signal).toBe(null);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim()) as { cut: boolean; code: string | null; message: string };
    expect(out.cut).toBe(true);
    expect(out.code).toBe("ERR_FILE_CHANGED");
    expect(out.message).toContain("mid-call.gguf");
  });

  it("during a call with the guard turned off: SIGBUS kills the process (what the guard prevents)", () => {
    const r = child(midCall(join(dir, "mid-call-unguarded.gguf")), { SHORTGPT_SIGBUS_GUARD: "0" });
    expect(r.signal).toBe("SIGBUS");
  });
});
