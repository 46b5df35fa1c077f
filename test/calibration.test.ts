/** Calibration input: files, JSONL fields, stdin, nlp-corpus, and ShortGPT windows. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { calibrationWindows, readCalibrationText } from "../src/data/calibration.js";
import { nlpCorpusDocument, nlpCorpusText } from "../src/data/nlp-corpus.js";
import { loadTokenizer } from "../src/tokenizer/index.js";
import { SMOLLM2_PATH } from "./helpers/data.js";

const dir = mkdtempSync(join(tmpdir(), "shortgpt-calib-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("readCalibrationText", () => {
  it("joins .txt files (BOM stripped), .jsonl fields and stdin", () => {
    const a = join(dir, "a.txt");
    const b = join(dir, "b.jsonl");
    writeFileSync(a, "\uFEFFfirst file");
    writeFileSync(b, `{"text":"line one","id":1}\n\n{"text":"line two"}\n`);
    const t = readCalibrationText([a, b, "-"], { field: "text", readStdin: () => "from stdin" });
    expect(t.text).toBe("first file\n\nline one\n\nline two\n\nfrom stdin");
    expect(t.sources).toEqual([a, b, "stdin"]);
  });

  it("names the file, line and field on bad JSONL", () => {
    const b = join(dir, "bad.jsonl");
    writeFileSync(b, `{"text":"ok"}\n{"body":"no text"}\n`);
    expect(() => readCalibrationText([b], { field: "text" })).toThrow(/bad\.jsonl:2: field 'text' is missing/);
    expect(() => readCalibrationText([b])).toThrow(expect.objectContaining({ code: "ERR_CALIBRATION_FIELD" }));
    writeFileSync(b, `{"text":"ok"}\nnot json\n`);
    expect(() => readCalibrationText([b], { field: "text" })).toThrow(expect.objectContaining({ code: "ERR_CALIBRATION_JSON", message: expect.stringContaining("bad.jsonl:2") }));
    expect(() => readCalibrationText([join(dir, "missing.txt")])).toThrow(expect.objectContaining({ code: "ERR_FILE_NOT_FOUND" }));
  });
});

describe("calibrationWindows", () => {
  const ids = Array.from({ length: 1000 }, (_, i) => i + 10);

  it("cuts non-overlapping windows with BOS first, spread evenly", () => {
    const w = calibrationWindows(ids, { ctx: 100, maxWindows: 4, bos: 1 });
    expect(w.windows).toBe(4);
    expect(w.ids.length).toBe(400);
    // 1000 tokens / 99 per window = 10 slots; 4 windows take slots 0, 2, 5, 7.
    const starts = [0, 1, 2, 3].map((k) => w.ids[k * 100 + 1]! - 10);
    expect(starts).toEqual([0, 2 * 99, 5 * 99, 7 * 99]);
    for (let k = 0; k < 4; k++) {
      expect(w.ids[k * 100]).toBe(1);
      for (let t = 2; t < 100; t++) expect(w.ids[k * 100 + t]).toBe(w.ids[k * 100 + t - 1]! + 1);
    }
  });

  it("uses every window when there are fewer than asked, and no BOS when the vocab adds none", () => {
    const w = calibrationWindows(ids, { ctx: 300, maxWindows: 64, bos: null });
    expect(w.windows).toBe(3);
    expect(Array.from(w.ids.subarray(0, 3))).toEqual([10, 11, 12]);
    expect(w.ids[300]).toBe(310);
  });

  it("refuses text shorter than one window", () => {
    expect(() => calibrationWindows(ids.slice(0, 50), { ctx: 256, maxWindows: 64, bos: 1 })).toThrow(
      expect.objectContaining({ code: "ERR_CALIBRATION_TOO_SHORT", message: expect.stringMatching(/50 tokens, fewer than one window of 256/) }),
    );
  });
});

describe("nlp-corpus", () => {
  it("reads documents deterministically and gives enough text for 64 x 256 SmolLM2 tokens", () => {
    expect(nlpCorpusDocument(0).length).toBeGreaterThan(500);
    const a = nlpCorpusText({ maxCharacters: 120_000 });
    const b = nlpCorpusText({ maxCharacters: 120_000 });
    expect(a.text).toBe(b.text);
    expect(a.sources[0]).toMatch(/^nlp-corpus/);
    const tok = loadTokenizer(SMOLLM2_PATH);
    const ids = tok.encode(a.text, { addSpecial: false });
    expect(calibrationWindows(ids, { ctx: 256, maxWindows: 64, bos: tok.addBos ? tok.special.bos : null }).windows).toBe(64);
  });

  it("gives disjoint text for disjoint documents", () => {
    const even = nlpCorpusText({ documents: [0, 2, 4] }).text;
    const odd = nlpCorpusText({ documents: [1, 3, 5] }).text;
    expect(even.slice(0, 200)).not.toBe(odd.slice(0, 200));
  });
});
