/**
 * `shortgpt prune` and `shortgpt inspect` as a user runs them: exit codes
 * (0 ok, 1 refused/failed, 2 usage), one JSON object with --json, messages on
 * stderr, silence on stdout's progress when not a TTY.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { readGguf } from "../src/gguf/read.js";
import { buildRawGguf, tinyLlamaSpec } from "./helpers/gguf-builder.js";
import { runCli } from "./helpers/cli.js";
import { GEMMA3_PATH, SMOLLM2_PATH } from "./helpers/data.js";

const dir = mkdtempSync(join(tmpdir(), "shortgpt-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(...args: string[]) {
  return runCli(args);
}

describe("shortgpt prune", () => {
  it("prunes SmolLM2 --layers 20-28 and prints the documented JSON", () => {
    const out = join(dir, "smol.gguf");
    const r = run("prune", SMOLLM2_PATH, "-o", out, "--layers", "20-28", "--json");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const json = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(Object.keys(json).sort()).toEqual(["blocksAfter", "blocksBefore", "bytesAfter", "bytesBefore", "input", "output", "removed", "seconds", "timings"]);
    expect(json).toMatchObject({ input: SMOLLM2_PATH, output: out, removed: [20, 21, 22, 23, 24, 25, 26, 27, 28], blocksBefore: 30, blocksAfter: 21 });
    expect(readGguf(out).get("llama.block_count")!.value).toBe(21);
    expect(json.bytesAfter).toBe(readGguf(out).fileSize);
  });

  it("prints a human summary without --json", () => {
    const r = run("prune", SMOLLM2_PATH, "-o", join(dir, "smol2.gguf"), "--layers", "3,5");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/removed blocks 3,5 \(2 of 30\); 28 remain/);
  });

  it("refuses a pattern-breaking set with exit code 1 and names the nearest valid set", () => {
    const out = join(dir, "gemma.gguf");
    const r = run("prune", GEMMA3_PATH, "-o", out, "--layers", "3");
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/ERR_PRUNE_PATTERN/);
    expect(r.stderr).toMatch(/Nearest valid set: 3-8/);
    expect(existsSync(out)).toBe(false);
  });

  it("accepts the set with --force and warns", () => {
    const r = run("prune", GEMMA3_PATH, "-o", join(dir, "gemma-forced.gguf"), "--layers", "3", "--force");
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning:.*sliding-window/);
  });

  it.each([
    ["no --layers", ["prune", SMOLLM2_PATH, "-o", "x.gguf"]],
    ["no -o", ["prune", SMOLLM2_PATH, "--layers", "1"]],
    ["a bad list", ["prune", SMOLLM2_PATH, "-o", "x.gguf", "--layers", "3-1"]],
    ["garbage in the list", ["prune", SMOLLM2_PATH, "-o", "x.gguf", "--layers", "three"]],
    ["an unknown option", ["prune", SMOLLM2_PATH, "-o", "x.gguf", "--layers", "1", "--frobnicate"]],
    ["an unknown command", ["frobnicate"]],
  ])("exits 2 on bad usage: %s", (_name, args) => {
    const r = run(...args);
    expect(r.code).toBe(2);
    expect(r.stderr.length).toBeGreaterThan(0);
  });

  it("exits 1 with a typed error for a missing or malformed input", () => {
    const missing = run("prune", join(dir, "nope.gguf"), "-o", join(dir, "o.gguf"), "--layers", "1");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/ERR_FILE_NOT_FOUND/);
    const bad = join(dir, "bad.gguf");
    writeFileSync(bad, buildRawGguf(tinyLlamaSpec(3)).bytes.subarray(0, 100));
    const truncated = run("prune", bad, "-o", join(dir, "o.gguf"), "--layers", "1");
    expect(truncated.code).toBe(1);
    expect(truncated.stderr).toMatch(/ERR_GGUF_/);
    expect(existsSync(join(dir, "o.gguf"))).toBe(false);
  });
});

describe("shortgpt inspect", () => {
  it("reports Gemma 3's structure and rules as JSON", () => {
    const r = run("inspect", GEMMA3_PATH, "--json");
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({
      architecture: "gemma3",
      blockCount: 18,
      contextLength: 32768,
      embeddingLength: 640,
      tensorCount: 236,
      tokenizer: { model: "llama", pre: "default", vocabSize: 262144 },
      rules: { known: true, period: 6, mtpBlocks: 0, leadingDenseBlocks: null },
      shortgpt: null,
    });
    expect(s.parameters).toBe(268098176);
    expect(s.blocks.bytesPerBlock).toHaveLength(18);
    const shares = (s.tensorTypes as { type: string; share: number }[]).map((t) => t.type);
    expect(shares).toEqual(expect.arrayContaining(["Q8_0", "Q5_0", "Q4_K", "Q6_K", "F32"]));
    const total = (s.tensorTypes as { share: number }[]).reduce((a, t) => a + t.share, 0);
    expect(total).toBeCloseTo(1, 10);
    expect(s.rules.notes.join(" ")).toMatch(/sliding-window period 6/);
  });

  it("shows provenance of a pruned file in text", () => {
    const out = join(dir, "inspect-pruned.gguf");
    expect(run("prune", SMOLLM2_PATH, "-o", out, "--layers", "1-3").code).toBe(0);
    const r = run("inspect", out);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/blocks\s+27/);
    expect(r.stdout).toMatch(/pruned\s+blocks 1-3 of the original removed by shortgpt/);
  });

  it("colors its labels only when asked to (FORCE_COLOR, --color or a terminal) and never under NO_COLOR", () => {
    const ESC = "\u001b[";
    expect(run("inspect", SMOLLM2_PATH).stdout).not.toContain(ESC);
    const colored = runCli(["inspect", SMOLLM2_PATH], { color: true });
    expect(colored.code).toBe(0);
    expect(colored.stdout).toContain(`${ESC}1mblocks`);
    // The JSON form is for programs: no escape codes even when colors are forced.
    const json = runCli(["inspect", SMOLLM2_PATH, "--json"], { color: true });
    expect(json.stdout).not.toContain(ESC);
    expect(() => JSON.parse(json.stdout) as unknown).not.toThrow();
  });
});
