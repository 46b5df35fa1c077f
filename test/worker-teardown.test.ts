/**
 * Terminating a worker_thread in the middle of generate, score or a prune
 * (what an Electron app does when a window closes) must not take the process
 * down, and an interrupted prune must leave no temp file. Before the fix the
 * addon threw a Napi::Error out of a thread-safe-function callback while the
 * worker's environment was torn down ("terminate called after throwing an
 * instance of 'Napi::Error'", 10 times in 10), and the temp file stayed.
 *
 * The rounds run in a child process (built dist/, as a user runs it): a
 * process abort shows as its exit status instead of killing the test runner.
 */
import { spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { kv } from "../src/gguf/value.js";
import { layoutGguf, type GgufTensorSpec } from "../src/gguf/write.js";
import { REPO_ROOT, SMOLLM2_PATH } from "./helpers/data.js";

const dir = mkdtempSync(join(tmpdir(), "shortgpt-teardown-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const DIST = join(REPO_ROOT, "dist", "index.js");
const ROUNDS = 5;

/**
 * A llama-shaped file of 256 MiB of real (non-hole) tensor bytes: the range
 * copier skips holes, so only real bytes make the copy last long enough
 * (8 chunks of 32 MiB) for the worker to be terminated while it runs.
 */
function writeDenseModel(path: string): void {
  const tensors: GgufTensorSpec[] = [{ name: "token_embd.weight", dims: [64, 256], type: 0 }];
  for (let b = 0; b < 4; b++) tensors.push({ name: `blk.${b}.ffn_down.weight`, dims: [4096, 4096], type: 0 });
  const layout = layoutGguf({
    version: 3,
    kv: [kv.string("general.architecture", "llama"), kv.u32("llama.block_count", 4), kv.u32("llama.embedding_length", 64)],
    tensors,
  });
  const fd = openSync(path, "w");
  try {
    writeSync(fd, layout.header, 0, layout.header.length, 0);
    const chunk = Buffer.alloc(8 << 20, 0x5a);
    for (let at = layout.dataOffset; at < layout.fileSize; at += chunk.length) {
      writeSync(fd, chunk, 0, Math.min(chunk.length, layout.fileSize - at), at);
    }
  } finally {
    closeSync(fd);
  }
}

/** The worker: starts the job, says "running" once the native work reports progress, and is terminated then. */
const WORKER = `
import { parentPort, workerData } from "node:worker_threads";
const api = await import(workerData.api);
let told = false;
const running = () => { if (!told) { told = true; parentPort.postMessage("running"); } };
if (workerData.job === "prune") {
  await api.pruneLayers(workerData.input, workerData.output, [1], { onProgress: running });
} else {
  const model = await api.openModel(workerData.input, { threads: 1 });
  if (workerData.job === "generate") {
    await model.generate([1, 2, 3], { maxTokens: 4000, ignoreEos: true, onToken: running });
  } else {
    await model.score(api.nlpCorpusText({ documents: [0, 1] }), { ctx: 256, windows: 32, onProgress: running });
  }
}
parentPort.postMessage("finished");
`;

/** The parent: ROUNDS times, start a worker, wait for "running", terminate it; report what is left in the folder. */
const PARENT = `
import { Worker } from "node:worker_threads";
import { readdirSync } from "node:fs";
const [job, input, output, folder, rounds, api] = process.argv.slice(2);
const results = [];
for (let i = 0; i < Number(rounds); i++) {
  const worker = new Worker(new URL("./worker.mjs", import.meta.url), { workerData: { job, input, output, api } });
  const first = await new Promise((resolve, reject) => { worker.once("message", resolve); worker.once("error", reject); });
  const started = performance.now();
  const exitCode = await worker.terminate();
  results.push({ first, exitCode, terminateMs: performance.now() - started, files: readdirSync(folder).sort() });
}
console.log(JSON.stringify(results));
`;

interface Round {
  first: string;
  exitCode: number;
  terminateMs: number;
  files: string[];
}

function terminateRounds(job: "prune" | "generate" | "score", input: string, folder: string): Round[] {
  writeFileSync(join(dir, "worker.mjs"), WORKER);
  writeFileSync(join(dir, "parent.mjs"), PARENT);
  const r = spawnSync(process.execPath, [join(dir, "parent.mjs"), job, input, join(folder, "out.gguf"), folder, String(ROUNDS), DIST], {
    encoding: "utf8",
    timeout: 300_000,
  });
  // An abort is status null with SIGABRT, and "terminate called after throwing" on stderr.
  expect(r.stderr).toBe("");
  expect(r.signal).toBeNull();
  expect(r.status).toBe(0);
  const rounds = JSON.parse(r.stdout) as Round[];
  expect(rounds).toHaveLength(ROUNDS);
  return rounds;
}

describe("terminating a worker_thread mid-call", () => {
  it("during pruneLayers: the process survives and no temp file remains", () => {
    const folder = mkdtempSync(join(dir, "prune-"));
    const input = join(folder, "dense.gguf");
    writeDenseModel(input);
    const rounds = terminateRounds("prune", input, folder);
    for (const round of rounds) {
      // Terminated while copying: no output was renamed into place, and the temp file is gone.
      expect(round.first).toBe("running");
      expect(round.files).toEqual(["dense.gguf"]);
    }
    console.log(`[worker-teardown] prune: terminate() took ${rounds.map((r) => r.terminateMs.toFixed(0)).join(", ")} ms`);
  });

  it("during generate and score: the process survives, and terminate() does not wait for the work to finish", () => {
    for (const job of ["generate", "score"] as const) {
      const rounds = terminateRounds(job, SMOLLM2_PATH, dir);
      for (const round of rounds) expect(round.first, job).toBe("running");
      // The work is cancelled when teardown starts: 4000 tokens or 32 windows would take
      // minutes on a loaded 2-core machine; 20 s leaves room for the load without waiting them out.
      for (const round of rounds) expect(round.terminateMs, job).toBeLessThan(20_000);
      console.log(`[worker-teardown] ${job}: terminate() took ${rounds.map((r) => r.terminateMs.toFixed(0)).join(", ")} ms`);
    }
  });
});
