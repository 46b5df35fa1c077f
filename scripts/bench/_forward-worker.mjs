// One side of the forward benchmark (scripts/bench/forward.mjs), in its own
// process so that its peak RSS is its own:
//   node _forward-worker.mjs ours|llama <model.gguf> <threads> <ids.json>
// Loads the model and evaluates the prompt in ids.json once from position 0
// (logits for the last position only) as a warm-up, prints {"ready":true},
// then for every "run" line on stdin evaluates it once more and prints
// {"seconds": s}; when stdin ends it prints {"profile": …} (ours: the engine's
// per-step clock over the timed runs) and exits. Staying alive between runs
// lets forward.mjs interleave the two sides' runs.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const [side, modelPath, threadsArg, idsPath] = process.argv.slice(2);
const threads = Number(threadsArg);
const ids = JSON.parse(readFileSync(idsPath, "utf8"));

let once;
let finish;
if (side === "ours") {
  const { openModel } = await import(join(root, "dist", "model.js"));
  const model = await openModel(modelPath, { threads });
  const last = [ids.length - 1];
  once = () => model.logits(ids, { positions: last });
  await once(); // warm-up: pages the weights in
  model.resetProfile();
  finish = async () => {
    const profile = model.profile();
    model.close();
    return profile;
  };
} else {
  const { getLlama } = await import("node-llama-cpp");
  const llama = await getLlama({ gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true, logLevel: "error", progressLogs: false });
  const model = await llama.loadModel({ modelPath });
  // One sequence, the whole prompt in one batch, one slot spare (the context-shift trap).
  const context = await model.createContext({ contextSize: ids.length + 1, batchSize: ids.length, threads, sequences: 1 });
  const sequence = context.getSequence();
  once = async () => {
    await sequence.clearHistory();
    await sequence.evaluateWithoutGeneratingNewTokens(ids);
  };
  await once();
  finish = async () => {
    await context.dispose();
    await model.dispose();
    return undefined;
  };
}
const send = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);
send({ ready: true });
for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  if (line.trim() !== "run") continue;
  const t = performance.now();
  await once();
  send({ seconds: (performance.now() - t) / 1000 });
}
send({ profile: await finish() });
process.exit(0);
