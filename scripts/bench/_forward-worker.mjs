// One side of the forward benchmark (scripts/bench/forward.mjs), in its own
// process so that its peak RSS is its own:
//   node _forward-worker.mjs ours|llama <model.gguf> <threads> <runs> <ids.json>
// Evaluates the prompt in ids.json from position 0 (logits for the last
// position only), `runs` times after one warm-up, and prints one JSON line:
// { seconds: number[], profile?: Record<string, number> }.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const [side, modelPath, threadsArg, runsArg, idsPath] = process.argv.slice(2);
const threads = Number(threadsArg);
const runs = Number(runsArg);
const ids = JSON.parse(readFileSync(idsPath, "utf8"));

const seconds = [];
let profile;
if (side === "ours") {
  const { openModel } = await import(join(root, "dist", "model.js"));
  const model = await openModel(modelPath, { threads });
  const last = [ids.length - 1];
  await model.logits(ids, { positions: last }); // warm-up: pages the weights in
  model.resetProfile();
  for (let r = 0; r < runs; r++) {
    const t = performance.now();
    await model.logits(ids, { positions: last });
    seconds.push((performance.now() - t) / 1000);
  }
  profile = model.profile();
  model.close();
} else {
  const { getLlama } = await import("node-llama-cpp");
  const llama = await getLlama({ gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true, logLevel: "error", progressLogs: false });
  const model = await llama.loadModel({ modelPath });
  // One sequence, the whole prompt in one batch, one slot spare (the context-shift trap).
  const context = await model.createContext({ contextSize: ids.length + 1, batchSize: ids.length, threads, sequences: 1 });
  const sequence = context.getSequence();
  const once = async () => {
    await sequence.clearHistory();
    await sequence.evaluateWithoutGeneratingNewTokens(ids);
  };
  await once();
  for (let r = 0; r < runs; r++) {
    const t = performance.now();
    await once();
    seconds.push((performance.now() - t) / 1000);
  }
  await context.dispose();
  await model.dispose();
}
process.stdout.write(`${JSON.stringify({ seconds, profile })}\n`);
