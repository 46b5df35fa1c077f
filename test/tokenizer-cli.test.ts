/**
 * `shortgpt tokenize` as a user runs it: llama-tokenize's output formats,
 * --json, BOS/EOS and special-token switches, file input taken byte for
 * byte, exit codes.
 */
import { spawn, spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { nlpCorpusText } from "../src/data/nlp-corpus.js";
import { loadTokenizer } from "../src/tokenizer/index.js";
import { CLI, cliEnv, runCli } from "./helpers/cli.js";
import { GEMMA3_PATH, SHARED_DATA, SMOLLM2_PATH, sharedData } from "./helpers/data.js";

const dir = mkdtempSync(join(tmpdir(), "shortgpt-tokenize-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(...args: string[]) {
  return runCli(["tokenize", ...args]);
}

describe("shortgpt tokenize", () => {
  const smol = loadTokenizer(SMOLLM2_PATH);
  const gemma = loadTokenizer(GEMMA3_PATH);

  it("prints `id -> 'piece'` lines like llama-tokenize, rendering control tokens", () => {
    const r = run(SMOLLM2_PATH, "--string", "Hello world<|im_end|>");
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(" 19556 -> 'Hello'\n   905 -> ' world'\n     2 -> '<|im_end|>'\n");
  });

  it("--ids prints a list; --show-count adds the count; --no-parse-special keeps control text as text", () => {
    const r = run(SMOLLM2_PATH, "--string", "Hello world<|im_end|>", "--ids", "--show-count", "--no-parse-special");
    expect(r.code).toBe(0);
    const ids = smol.encode("Hello world<|im_end|>", { parseSpecial: false });
    expect(ids).not.toContain(2);
    expect(r.stdout).toBe(`[${ids.join(", ")}]\nTotal number of tokens: ${ids.length}\n`);
  });

  it("--json prints { ids, count } with BOS where the vocabulary adds it; --no-special drops it", () => {
    const withBos = JSON.parse(run(GEMMA3_PATH, "--string", "Hi there", "--json").stdout) as { ids: number[]; count: number };
    expect(withBos).toEqual({ ids: gemma.encode("Hi there"), count: withBos.ids.length });
    expect(withBos.ids[0]).toBe(gemma.special.bos);
    const without = JSON.parse(run(GEMMA3_PATH, "--string", "Hi there", "--json", "--no-special").stdout) as { ids: number[] };
    expect(without.ids).toEqual(withBos.ids.slice(1));
  });

  it.skipIf(!SHARED_DATA)("--text tokenizes the file's bytes, invalid UTF-8 included", () => {
    const file = join(dir, "text.txt");
    const bytes = Buffer.concat([Buffer.from("caf\u00e9 \u{1f600}\n"), Buffer.from([0xff, 0x41, 0xc3])]);
    writeFileSync(file, bytes);
    const r = run(sharedData("models/stories260K.gguf"), "--text", file, "--json");
    const stories = loadTokenizer(sharedData("models/stories260K.gguf"));
    expect(JSON.parse(r.stdout)).toEqual({ ids: stories.encode(bytes), count: stories.encode(bytes).length });
    // Byte fallback: 0xFF is not UTF-8 and becomes a byte token.
    expect(stories.encode(bytes)).toContain(stories.encode(Buffer.from([0xff]), { addSpecial: false }).at(-1));
  });

  it("exit code 2 without exactly one input", () => {
    expect(run(SMOLLM2_PATH).code).toBe(2);
    expect(run(SMOLLM2_PATH, "--string", "a", "--text", "b").code).toBe(2);
  });

  it.skipIf(!SHARED_DATA)("exit code 1 and ERR_UNSUPPORTED_TOKENIZER for a WordPiece vocabulary", () => {
    const bert = run(sharedData("tokenizer/ggml-vocab-bert-bge.gguf"), "--string", "a");
    expect(bert.code).toBe(1);
    expect(bert.stdout).toBe("");
    expect(bert.stderr).toMatch(/ERR_UNSUPPORTED_TOKENIZER/);
  });

  it("stops quietly when the reader closes the pipe early (`| head`)", async () => {
    // ~40k tokens of output, far beyond a pipe's buffer: the CLI is still writing when we close.
    const text = join(dir, "long.txt");
    writeFileSync(text, "hello world ".repeat(20_000));
    const child = spawn(process.execPath, [CLI, "tokenize", SMOLLM2_PATH, "--text", text], { env: cliEnv(), stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdout.once("data", () => child.stdout.destroy());
    const code = await new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
    expect(stderr).toBe("");
    expect(code).toBe(0);
  });

  it("streams its output: peak memory grows with the text far less than the output does", () => {
    // The `id -> 'piece'` text is about 4x the input. Built whole in memory (a Buffer per piece,
    // then one concatenation) it cost 68 bytes of peak RSS per input byte here (1.55 GB for 20 MB
    // of Gutenberg text); streamed, 15 (398 MB for the 20 MB): the input, the ids and the
    // tokenizer's buffers, what the API's tokenize needs too. The bound, 30 bytes per input byte
    // over a tiny input's peak, sits between the two.
    const text = join(dir, "corpus.txt");
    writeFileSync(text, nlpCorpusText({ maxCharacters: 4_000_000 }).text);
    const inputBytes = statSync(text).size;
    const rssProbe = join(dir, "max-rss.cjs");
    writeFileSync(rssProbe, "process.on('exit', () => process.stderr.write(`maxrss ${process.resourceUsage().maxRSS}\\n`));\n");
    const tokenize = (input: string) => {
      const outPath = join(dir, "tokens.txt");
      const out = openSync(outPath, "w");
      try {
        const r = spawnSync(process.execPath, ["--require", rssProbe, CLI, "tokenize", SMOLLM2_PATH, "--text", input, "--show-count"], {
          env: cliEnv(),
          stdio: ["ignore", out, "pipe"],
          encoding: "utf8",
          timeout: 120_000,
        });
        expect(r.status, r.stderr).toBe(0);
        return { peakBytes: Number(/maxrss (\d+)/.exec(r.stderr)![1]) * 1024, output: readFileSync(outPath, "utf8") };
      } finally {
        closeSync(out);
      }
    };
    const tiny = join(dir, "tiny.txt");
    writeFileSync(tiny, "Hello world");
    const base = tokenize(tiny);
    const large = tokenize(text);
    // Every token printed (pieces may hold newlines: count the line starts), then the count.
    const count = Number(/\nTotal number of tokens: (\d+)\n$/.exec(large.output)![1]);
    expect(count).toBeGreaterThan(inputBytes / 8);
    expect(large.output.match(/^ *\d+ -> '/gm)!.length).toBe(count);
    const perByte = (large.peakBytes - base.peakBytes) / inputBytes;
    console.log(`[tokenizer-cli] ${(inputBytes / 1e6).toFixed(1)} MB of text -> ${(large.output.length / 1e6).toFixed(1)} MB of output; peak RSS ${(base.peakBytes / 2 ** 20).toFixed(0)} MiB (tiny input), ${(large.peakBytes / 2 ** 20).toFixed(0)} MiB: ${perByte.toFixed(1)} bytes per input byte`);
    expect(perByte).toBeLessThan(30);
  });
});
