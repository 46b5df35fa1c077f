/**
 * The commands with hostile or unlucky input and output paths: escape
 * sequences in a model's metadata, outputs that cannot be written (found
 * before the work, never half-written over an old file), scores files with
 * bad fields, system errors turned into ERR_FILE_* codes, and the smallest
 * model there is (one block).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { nlpCorpusText } from "../src/data/nlp-corpus.js";
import { TEMP_MARK } from "../src/files/output.js";
import { readGguf } from "../src/gguf/read.js";
import { CLI, cliEnv, runCli } from "./helpers/cli.js";
import { SMOLLM2_PATH } from "./helpers/data.js";
import { buildRawGguf, tinyLlamaSpec, type RawValue } from "./helpers/gguf-builder.js";

const dir = mkdtempSync(join(tmpdir(), "shortgpt-cli-safety-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (...args: string[]) => runCli(args, { timeoutMs: 300_000 });
const calib = join(dir, "calib.txt");
const scoresPath = join(dir, "scores.json");
const small = ["--windows", "2", "--ctx", "128", "--threads", "2"];
const ESC = "\u001b";

beforeAll(() => {
  writeFileSync(calib, nlpCorpusText({ documents: [5], maxCharacters: 20_000 }).text);
  const r = run("score", SMOLLM2_PATH, "--text", calib, ...small, "--json", scoresPath);
  expect(r.code, r.stderr).toBe(0);
});

/** A tiny model whose metadata strings carry terminal escape sequences. */
function hostileModel(name: string, arch = "llama", extra: [string, RawValue][] = []): string {
  const spec = tinyLlamaSpec(3, extra, arch);
  const kv = spec.kv.map(([k, v]): [string, RawValue] => (k === "general.name" ? [k, { t: "str", v: `evil${ESC}]0;pwned\u0007${ESC}[2J\u202ename` }] : [k, v]));
  const path = join(dir, name);
  writeFileSync(path, buildRawGguf({ ...spec, kv }).bytes);
  return path;
}

describe("metadata shown in a terminal", () => {
  it("inspect escapes control and bidi characters in text, and keeps them exact in JSON", () => {
    const path = hostileModel("hostile.gguf");
    const text = run("inspect", path);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).not.toContain(ESC);
    expect(text.stdout).not.toContain("\u0007");
    expect(text.stdout).not.toContain("\u202e");
    expect(text.stdout).toContain("evil\\x1b]0;pwned\\x07\\x1b[2J\\u202ename");
    const json = run("inspect", path, "--json");
    expect(JSON.parse(json.stdout).name).toBe(`evil${ESC}]0;pwned\u0007${ESC}[2J\u202ename`);
  });

  it("prune's summary and error messages escape keys and names from the file", () => {
    const key = `llama.feed${ESC}[2J_forward`;
    const path = hostileModel("hostile-key.gguf", "llama", [[key, { t: "arr", item: 4, values: [1, 2, 3].map((v) => ({ t: "u32", v })) }]]);
    const ok = run("prune", path, "-o", join(dir, "hostile-out.gguf"), "--layers", "1");
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain("llama.feed\\x1b[2J_forward: sliced");
    expect(ok.stdout).not.toContain(ESC);
    const arch = `ll${ESC}[31mama`;
    const refused = run("prune", hostileModel("hostile-arch.gguf", arch), "-o", join(dir, "never.gguf"), "--layers", "1");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("ll\\x1b[31mama");
    expect(refused.stderr).not.toContain(ESC);
  });
});

describe("outputs", () => {
  it("score checks --json and --report destinations before scoring", () => {
    const started = performance.now();
    const folder = join(dir, "a-folder");
    mkdirSync(folder);
    const r1 = run("score", SMOLLM2_PATH, "--text", calib, ...small, "--json", folder);
    expect(r1.code).toBe(1);
    expect(r1.stderr).toContain("ERR_FILE_NOT_REGULAR");
    expect(r1.stderr).toContain(folder);
    const missing = join(dir, "no-such-folder", "r.html");
    const r2 = run("score", SMOLLM2_PATH, "--text", calib, ...small, "--report", missing);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toContain("ERR_FILE_OPEN");
    expect(r2.stderr).toContain(missing);
    expect(r1.stderr + r2.stderr).not.toMatch(/scoring/);
    console.log(`[cli-safety] two refused score runs took ${((performance.now() - started) / 1000).toFixed(1)} s`);
  });

  it("score --json never destroys the old file: a write cut short (file size limit) leaves it whole", () => {
    const target = join(dir, "keep-scores.json");
    const old = readFileSync(scoresPath, "utf8");
    writeFileSync(target, old);
    // `ulimit -f 1`: writes past 512 bytes fail (SIGXFSZ). A report is several KiB.
    const r = spawnSync("sh", ["-c", `ulimit -f 1; exec "$0" "$@"`, process.execPath, CLI, "score", SMOLLM2_PATH, "--text", calib, ...small, "--json", target], {
      encoding: "utf8",
      timeout: 300_000,
      env: cliEnv(),
    });
    expect(r.status === 0).toBe(false);
    expect(readFileSync(target, "utf8")).toBe(old);
    // The next write in that folder cleans the dead process's temporary file.
    const again = run("score", SMOLLM2_PATH, "--text", calib, ...small, "--json", target);
    expect(again.code, again.stderr).toBe(0);
    expect(readdirSync(dir).filter((f) => f.includes(TEMP_MARK))).toEqual([]);
  });

  it("prune checks --report, --eval and --eval-ctx before writing the model", () => {
    const out = join(dir, "prechecked.gguf");
    const base = ["prune", SMOLLM2_PATH, "-o", out, "--remove", "2", "--scores", scoresPath];
    const cases: [string[], string][] = [
      [["--report", join(dir, "no-such-folder", "r.html")], "ERR_FILE_OPEN"],
      [["--report", join(dir, "a-folder-2") + "/"], "ERR_FILE_NOT_REGULAR"],
      [["--eval", join(dir, "missing.txt")], "ERR_FILE_NOT_FOUND"],
      [["--eval", calib, "--eval-ctx", "100000"], "ERR_CONTEXT_LENGTH"],
    ];
    for (const [extra, code] of cases) {
      const r = run(...base, ...extra);
      expect(r.code, extra.join(" ")).toBe(1);
      expect(r.stderr, extra.join(" ")).toContain(code);
      expect(existsSync(out), extra.join(" ")).toBe(false);
    }
    const layersReport = run("prune", SMOLLM2_PATH, "-o", out, "--layers", "3", "--report", join(dir, "r.html"));
    expect(layersReport.code).toBe(2);
    expect(layersReport.stderr).toContain("--report needs scores");
    expect(existsSync(out)).toBe(false);
  });

  it("-o dir/ and -o on a folder say to give a file name", () => {
    const r = run("prune", SMOLLM2_PATH, "-o", `${dir}/`, "--layers", "3");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("ERR_FILE_NOT_REGULAR");
    expect(r.stderr).toContain("give a file name");
  });
});

describe("saved scores with bad fields", () => {
  const good = () => JSON.parse(readFileSync(scoresPath, "utf8")) as Record<string, unknown> & { layers: Record<string, unknown>[]; calibration: Record<string, unknown> };
  const cases: [string, (s: ReturnType<typeof good>) => void, string][] = [
    ["a metric that is an object", (s) => (s.metric = { evil: 1 }), "metric"],
    ["a calibration source that is a number", (s) => (s.calibration.sources = [1]), "calibration.sources[0]"],
    ["a BI given as a string", (s) => (s.layers[3]!.bi = "0.5"), "layers[3].bi"],
    ["a negative window count", (s) => (s.windows = -4), "windows"],
    ["an order naming a block the model lacks", (s) => (s.order = [99]), "block 99"],
    ["layers out of order", (s) => ([s.layers[0], s.layers[1]] = [s.layers[1]!, s.layers[0]!]), "layers[0] has index 1"],
  ];
  for (const [name, spoil, where] of cases) {
    it(`${name}: ERR_SCORES_FILE naming the field, nothing written`, () => {
      const s = good();
      spoil(s);
      const path = join(dir, `bad-${name.replace(/\W+/g, "-")}.json`);
      writeFileSync(path, JSON.stringify(s));
      const out = join(dir, "bad-scores-out.gguf");
      const r = run("prune", SMOLLM2_PATH, "-o", out, "--remove", "2", "--scores", path);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain("ERR_SCORES_FILE");
      expect(r.stderr).toContain(where);
      expect(existsSync(out)).toBe(false);
    });
  }

  it("a missing or unreadable scores file is an ERR_FILE_* error naming it", () => {
    const missing = join(dir, "missing-scores.json");
    const r = run("prune", SMOLLM2_PATH, "-o", join(dir, "x.gguf"), "--remove", "2", "--scores", missing);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("ERR_FILE_NOT_FOUND");
    expect(r.stderr).toContain(missing);
    const folder = run("prune", SMOLLM2_PATH, "-o", join(dir, "x.gguf"), "--remove", "2", "--scores", dir);
    expect(folder.stderr).toContain("ERR_FILE_NOT_REGULAR");
  });
});

describe("the smallest model", () => {
  it("a 1-block model is scored with the defaults", () => {
    const one = join(dir, "one-block.gguf");
    const p = run("prune", SMOLLM2_PATH, "-o", one, "--layers", "1-29");
    expect(p.code, p.stderr).toBe(0);
    expect(readGguf(one).get("llama.block_count")!.value).toBe(1);
    const r = run("score", one, "--text", calib, "--windows", "2");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("no block can be removed from a model with 1 block");
    const json = run("score", one, "--text", calib, "--windows", "2", "--json", "-");
    expect(JSON.parse(json.stdout)).toMatchObject({ blockCount: 1, span: 1, layers: [{ index: 0 }] });
  });
});
