// One side of the scoring-overhead benchmark (scripts/bench/score.mjs), in
// its own process so that its peak RSS is its own:
//   node _score-worker.mjs ours|llama-1|llama-8 <model.gguf> <threads> <job.json>
// job.json: { text, sources, ids: number[] (windows × ctx), ctx, windows }.
//   ours     model.score(text, { ctx, windows }): tokenization, windows, the
//            forward pass with hooks, the metrics (what `shortgpt score` does)
//   llama-1  llama.cpp prefilling every window as its own sequence, one
//            window per batch (clear, evaluate without generating)
//   llama-8  the same with 8 windows in one batch (8 sequences in one
//            context, llama-perplexity's way of filling a batch)
// After a short warm-up (pages the weights in), one timed pass; prints one
// JSON line { seconds, check }.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const [side, modelPath, threadsArg, jobPath] = process.argv.slice(2);
const threads = Number(threadsArg);
const job = JSON.parse(readFileSync(jobPath, "utf8"));
const windows = Array.from({ length: job.windows }, (_, w) => job.ids.slice(w * job.ctx, (w + 1) * job.ctx));

let seconds;
let check;
if (side === "ours") {
  const { openModel } = await import(join(root, "dist", "model.js"));
  const model = await openModel(modelPath, { threads });
  await model.logits(windows[0].slice(0, 32));
  const t = performance.now();
  const { report } = await model.score({ text: job.text, sources: job.sources }, { ctx: job.ctx, windows: job.windows });
  seconds = (performance.now() - t) / 1000;
  check = { windows: report.windows, tokens: report.tokens };
  model.close();
} else {
  const perBatch = side === "llama-8" ? 8 : 1;
  const { getLlama } = await import("node-llama-cpp");
  const llama = await getLlama({ gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true, logLevel: "error", progressLogs: false });
  const model = await llama.loadModel({ modelPath });
  // contextSize is per sequence; one spare cell (a full node-llama-cpp sequence shifts its context).
  const context = await model.createContext({ contextSize: job.ctx + 1, batchSize: perBatch * job.ctx, sequences: perBatch, threads });
  const sequences = Array.from({ length: perBatch }, () => context.getSequence());
  const prefill = async (sequence, ids) => {
    await sequence.clearHistory();
    await sequence.evaluateWithoutGeneratingNewTokens(ids);
  };
  await prefill(sequences[0], windows[0].slice(0, 32));
  const t = performance.now();
  for (let w = 0; w < windows.length; w += perBatch) {
    // Sequences evaluated together are decoded in one batch by node-llama-cpp's scheduler.
    await Promise.all(sequences.slice(0, windows.length - w).map((s, i) => prefill(s, windows[w + i])));
  }
  seconds = (performance.now() - t) / 1000;
  check = { windows: windows.length, tokens: windows.length * job.ctx, contextSize: context.contextSize, batchSize: context.batchSize };
  await context.dispose();
  await model.dispose();
}
process.stdout.write(`${JSON.stringify({ seconds, check })}\n`);
process.exit(0);
