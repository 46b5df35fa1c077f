/**
 * Long texts are tokenized off the JS thread. Scoring 2.6 MB of text used to
 * block the event loop for the whole tokenization (1.2 s, plus building the
 * tokenizer): timers stalled and an Electron UI froze. Now a worker_thread
 * with the same tokenizer does it: the ids are identical, the longest timer
 * gap during `score` is a fraction of the synchronous block, it also works
 * when the package itself runs in a worker_thread, and an abort stops it.
 *
 * Runs the built dist/ in a child process: the worker entry is the compiled
 * dist/tokenizer/encode-worker.js, as users get it (from the TypeScript
 * sources the encode stays synchronous).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { REPO_ROOT, SMOLLM2_PATH } from "./helpers/data.js";

const dir = mkdtempSync(join(tmpdir(), "shortgpt-tokenize-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SCRIPT = `
import { Worker } from "node:worker_threads";
const [dist, path] = process.argv.slice(2);
const { openModel, nlpCorpusText, loadTokenizer, AbortError } = await import(dist + "/index.js");

/** Longest gap between 5 ms timer ticks while fn runs: how long the event loop was blocked. */
async function longestGap(fn) {
  let last = performance.now(), max = 0;
  const timer = setInterval(() => { const now = performance.now(); max = Math.max(max, now - last); last = now; }, 5);
  const started = performance.now();
  const value = await fn();
  const ms = performance.now() - started;
  clearInterval(timer);
  return { value, ms, gap: Math.max(max, performance.now() - last) };
}
const digest = (ids) => { let h = 0; for (const x of ids) h = (Math.imul(h, 31) + x) | 0; return { length: ids.length, h }; };

const text = nlpCorpusText({ maxCharacters: 2_600_000 }).text;
const model = await openModel(path, { threads: 2 });
const score = await longestGap(() => model.score(text, { ctx: 64, windows: 2 }));
const offThread = await model.tokenize(text, { addSpecial: false });

// What score did before: build the tokenizer and encode on this thread.
const sync = await longestGap(() => loadTokenizer(path).encode(text, { addSpecial: false }));

// The package used from a worker_thread: the tokenizer worker is nested in it.
const nested = await new Promise((resolve, reject) => {
  const w = new Worker(\`
    const { parentPort, workerData } = require("node:worker_threads");
    (async () => {
      const { openModel } = await import(workerData.dist + "/index.js");
      const m = await openModel(workerData.path, { threads: 1 });
      const ids = await m.tokenize(workerData.text, { addSpecial: false });
      m.close();
      let h = 0; for (const x of ids) h = (Math.imul(h, 31) + x) | 0;
      parentPort.postMessage({ length: ids.length, h });
    })().catch((e) => parentPort.postMessage({ error: String(e) }));\`, { eval: true, workerData: { dist, path, text } });
  w.once("message", resolve);
  w.once("error", reject);
});

// Abort while the worker encodes.
const controller = new AbortController();
const reason = new Error("stop tokenizing");
setTimeout(() => controller.abort(reason), 20);
const aborted = await model.tokenize(text + " once more", { signal: controller.signal }).then(
  () => ({ rejected: false }),
  (e) => ({ rejected: true, isAbortError: e instanceof AbortError, causeIsReason: e.cause === reason }),
);
// The model still tokenizes after an abort (a new worker starts).
const again = digest(await model.tokenize(text, { addSpecial: false }));
model.close();

console.log(JSON.stringify({
  chars: text.length,
  scoreMs: score.ms, scoreGap: score.gap, textTokens: score.value.report.calibration.textTokens,
  syncMs: sync.ms, syncGap: sync.gap,
  offThread: digest(offThread), sync: digest(sync.value), nested, again, aborted,
}));
`;

describe("tokenizing 2.6 MB of text", () => {
  it("happens off the JS thread with the same ids, also from a worker_thread, and aborts", () => {
    const script = join(dir, "tokenize.mjs");
    writeFileSync(script, SCRIPT);
    const r = spawnSync(process.execPath, [script, join(REPO_ROOT, "dist"), SMOLLM2_PATH], { encoding: "utf8", timeout: 300_000 });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    console.log(
      `[tokenize-off-thread] ${(out.chars / 1e6).toFixed(2)} MB, ${out.sync.length} tokens: ` +
        `synchronous load + encode ${out.syncMs.toFixed(0)} ms (longest timer gap ${out.syncGap.toFixed(0)} ms); ` +
        `model.score ${out.scoreMs.toFixed(0)} ms, longest timer gap ${out.scoreGap.toFixed(0)} ms`,
    );
    expect(out.offThread).toEqual(out.sync);
    expect(out.nested).toEqual(out.sync);
    expect(out.again).toEqual(out.sync);
    expect(out.textTokens).toBe(out.sync.length);
    expect(out.aborted).toEqual({ rejected: true, isAbortError: true, causeIsReason: true });
    // The synchronous path blocks the loop for the whole tokenization (~1.5 s on an idle
    // 2-core machine). Off the thread, what is left on it (copying the text to the worker,
    // cutting windows, the scoring call's own JS) is tens of ms; a quarter of the blocking
    // time allows for a loaded machine and still fails if the encode comes back here.
    expect(out.syncGap).toBeGreaterThan(300);
    expect(out.scoreGap).toBeLessThan(out.syncGap / 4);
  });
});
