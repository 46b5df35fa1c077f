/**
 * A program that uses shortgpt the way an app does (import or require "shortgpt", open a real
 * model, compute logits), for the packaging tests: they write it into a consumer project, an
 * installed tarball or a bundle, run it in a child process and compare what it prints with the
 * same work done here in the test process (src/ and the dev build of the addon).
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";

import type * as Shortgpt from "../../src/index.js";

/** What a consumer prints (one JSON line). */
export interface ConsumerReport {
  version: string;
  /** SIMD levels compiled into the addon it loaded (buildInfo().simd.compiled). */
  simd?: string[];
  /** sha256 of the logits' bytes for CONSUMER_PROMPT: equal hashes = bit-identical logits. */
  logits?: string;
  rows?: number;
  /**
   * sha256 of the ids of a text long enough (≥ 64 Ki characters) for model.tokenize to use its
   * worker thread where dist/tokenizer/encode-worker.js is there (an install), and to encode on
   * the calling thread where it is not (a bundle).
   */
  longTokens?: string;
  error?: { code?: string; message: string };
}

const CONSUMER_PROMPT = "Once upon a time, a small robot learned to read the stars.";
const LONG_TEXT_REPEATS = 1200; // × 59 characters: 70,800, above OFF_THREAD_MIN_CHARACTERS (65,536)

/** The consumer's work, as JavaScript source shared by every module format below. */
const RUN_SOURCE = `
async function run(shortgpt, modelPath) {
  const out = { version: shortgpt.VERSION };
  try {
    out.simd = shortgpt.buildInfo().simd.compiled;
    const model = await shortgpt.openModel(modelPath, { threads: 1 });
    try {
      const ids = model.tokenizer.encode(${JSON.stringify(CONSUMER_PROMPT)}, { addSpecial: true });
      const logits = await model.logits(ids);
      out.logits = createHash("sha256").update(new Uint8Array(logits.buffer, logits.byteOffset, logits.byteLength)).digest("hex");
      out.rows = ids.length;
      const longIds = await model.tokenize(${JSON.stringify(CONSUMER_PROMPT + " ")}.repeat(${LONG_TEXT_REPEATS}));
      out.longTokens = createHash("sha256").update(new Uint8Array(longIds.buffer, longIds.byteOffset, longIds.byteLength)).digest("hex");
    } finally {
      model.close();
    }
  } catch (error) {
    out.error = { code: error.code, message: error.message };
  }
  return out;
}
`;

/** An ES module consumer: `import * as shortgpt from "<specifier>"`; argv[2] is the model. */
export function esmConsumerSource(specifier = "shortgpt"): string {
  return `import { createHash } from "node:crypto";
import * as shortgpt from ${JSON.stringify(specifier)};
${RUN_SOURCE}
console.log(JSON.stringify(await run(shortgpt, process.argv[2])));
`;
}

/** A CommonJS consumer: `require("<specifier>")`. */
export function cjsConsumerSource(specifier = "shortgpt"): string {
  return `"use strict";
const { createHash } = require("node:crypto");
const shortgpt = require(${JSON.stringify(specifier)});
${RUN_SOURCE}
run(shortgpt, process.argv[2]).then((out) => console.log(JSON.stringify(out)));
`;
}

/** The same work in this process, through src/ and the addon the tests load (build/Release). */
export async function referenceReport(shortgpt: typeof Shortgpt, modelPath: string): Promise<ConsumerReport> {
  const model = await shortgpt.openModel(modelPath, { threads: 1 });
  try {
    const ids = model.tokenizer.encode(CONSUMER_PROMPT, { addSpecial: true });
    const logits = await model.logits(ids);
    const longIds = await model.tokenize(`${CONSUMER_PROMPT} `.repeat(LONG_TEXT_REPEATS));
    return {
      version: shortgpt.VERSION,
      simd: shortgpt.buildInfo().simd.compiled,
      logits: createHash("sha256").update(new Uint8Array(logits.buffer, logits.byteOffset, logits.byteLength)).digest("hex"),
      rows: ids.length,
      longTokens: createHash("sha256").update(new Uint8Array(longIds.buffer, longIds.byteOffset, longIds.byteLength)).digest("hex"),
    };
  } finally {
    model.close();
  }
}

/** Runs `node <script> <modelPath>` and parses its report; fails with its stderr otherwise. */
export function runConsumer(script: string, modelPath: string, options: { cwd: string; env?: NodeJS.ProcessEnv }): ConsumerReport {
  const r = spawnSync(process.execPath, [script, modelPath], { cwd: options.cwd, env: options.env ?? process.env, encoding: "utf8", timeout: 120_000 });
  const line = r.stdout.trim().split("\n").at(-1) ?? "";
  if (r.status !== 0 || !line.startsWith("{")) {
    throw new Error(`${script} exited ${r.status ?? r.signal}:\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-3000)}`);
  }
  return JSON.parse(line) as ConsumerReport;
}

/** process.env without the variables that steer where the addon comes from. */
export function envWithoutAddonOverrides(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.SHORTGPT_ADDON_DIR;
  return { ...env, ...extra };
}
