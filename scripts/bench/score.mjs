// The scoring overhead: how long `shortgpt score` (model.score) takes on
// SmolLM2-135M with 64 windows of 256 tokens, against the time llama.cpp
// (node-llama-cpp 3.21.1, same file, same threads) needs just to prefill the
// same 64 × 256 tokens, each window an independent sequence from position 0.
// The ratio is what the scores cost beyond a plain forward pass: hooks,
// tokenization, window cutting and the metrics on our side. llama.cpp runs
// two ways (a window per batch; 8 windows per batch, as llama-perplexity
// fills batches) and the faster one is the reference. Each side runs in its
// own process (peak RSS is per process); the sides alternate for ROUNDS, and
// the per-round ratios show how far the median ratio can be trusted
// (src/cli/bench-stats.ts flags it when they differ by more than 25%).
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";

import { compareTimes, formatComparison, median, runMeasured, spreadOf, warningsMarkdown } from "./_stats.mjs";

export const description =
  "Scoring overhead: `shortgpt score` (model.score, 64 windows × 256 tokens, SmolLM2-135M Q4_1) vs llama.cpp (node-llama-cpp 3.21.1) only prefilling the same windows, same file and threads, alternating processes.";

const CTX = 256;
const WINDOWS = 64;
const ROUNDS = 3;
const SIDES = [
  ["ours", "shortgpt score"],
  ["llama-1", "llama.cpp prefill, 1 window per batch"],
  ["llama-8", "llama.cpp prefill, 8 windows per batch"],
];

export async function run({ log, root, args }) {
  const threads = Number(args.find((a) => a.startsWith("--threads="))?.slice(10) ?? 2);
  const { cachedModelPath, fetchModel } = await import(join(root, "dist", "models", "fetch.js"));
  const { readGguf } = await import(join(root, "dist", "gguf", "read.js"));
  const { loadTokenizer } = await import(join(root, "dist", "tokenizer", "index.js"));
  const { nlpCorpusText } = await import(join(root, "dist", "data", "nlp-corpus.js"));
  const { calibrationWindows } = await import(join(root, "dist", "data", "calibration.js"));
  await fetchModel("smollm2-135m", { log });
  const path = cachedModelPath("smollm2-135m");

  // The demo's calibration text; the windows model.score will cut from it, handed to llama.cpp as ids.
  const text = nlpCorpusText({ documents: Array.from({ length: 40 }, (_, i) => 2 * i), maxCharacters: 400_000 });
  const tokenizer = loadTokenizer(readGguf(path));
  const cut = calibrationWindows(tokenizer.encode(text.text, { addSpecial: false }), {
    ctx: CTX,
    maxWindows: WINDOWS,
    bos: tokenizer.addBos ? tokenizer.special.bos : null,
  });
  if (cut.windows !== WINDOWS) throw new Error(`the text gave only ${cut.windows} windows`);
  const work = join(root, ".cache", "bench");
  mkdirSync(work, { recursive: true });
  const jobPath = join(work, "score-job.json");
  writeFileSync(jobPath, JSON.stringify({ text: text.text, sources: text.sources, ids: Array.from(cut.ids), ctx: CTX, windows: WINDOWS }));

  const worker = join(root, "scripts", "bench", "_score-worker.mjs");
  const seconds = Object.fromEntries(SIDES.map(([id]) => [id, []]));
  const rss = Object.fromEntries(SIDES.map(([id]) => [id, 0]));
  const loads = [os.loadavg()[0]];
  for (let round = 0; round < ROUNDS; round++) {
    const got = {};
    for (const [id, label] of SIDES) {
      const r = await runMeasured(process.execPath, [worker, id, path, String(threads), jobPath]);
      const out = JSON.parse(r.stdout.trim().split("\n").pop());
      if (out.check.windows !== WINDOWS || out.check.tokens !== WINDOWS * CTX) throw new Error(`${id}: ran ${JSON.stringify(out.check)}`);
      seconds[id].push(out.seconds);
      rss[id] = Math.max(rss[id], r.maxRssBytes ?? 0);
      got[id] = out.seconds;
      loads.push(os.loadavg()[0]);
      log(`round ${round + 1}: ${label}: ${out.seconds.toFixed(2)} s`);
    }
  }

  const tokens = WINDOWS * CTX;
  // The reference is llama.cpp's faster way (by median); the overhead is our time over its, round by round too.
  const best = median(seconds["llama-1"]) <= median(seconds["llama-8"]) ? "llama-1" : "llama-8";
  const overhead = compareTimes(seconds.ours, seconds[best], "scoring overhead (shortgpt score / llama.cpp prefill)");
  const mib = (b) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  const lines = [
    `| side | time: median (min-max) of ${ROUNDS} | tokens/s | peak RSS |`,
    `| --- | ---: | ---: | ---: |`,
    ...SIDES.map(([id, label]) => {
      const s = spreadOf(seconds[id]);
      return `| ${label} | ${s.median.toFixed(2)} s (${s.min.toFixed(2)}-${s.max.toFixed(2)}) | ${(tokens / s.median).toFixed(0)} | ${mib(rss[id])} |`;
    }),
    "",
    `**Scoring overhead: ${formatComparison(overhead)}** (shortgpt score's median time / that of llama.cpp's faster way, ${SIDES.find(([id]) => id === best)[1]}; in parentheses the same ratio round by round).`,
    ...(overhead.trusted ? [] : ["", warningsMarkdown([overhead])]),
    "",
    `SmolLM2-135M Q4_1, ${WINDOWS} windows × ${CTX} tokens (${tokens.toLocaleString("en-US")} tokens) of English text from nlp-corpus (the demo's calibration documents), ${threads} threads on every side. ` +
      "shortgpt's time is the whole `model.score` call (tokenizing the text, cutting the windows, the forward pass with the BI / relative-magnitude / angular hooks at every block boundary, the metrics); " +
      "llama.cpp's is only the forward passes of the same windows (flash attention \"auto\", F16 KV cache, no logits requested), each window a fresh sequence from position 0. " +
      `Each side ran ${ROUNDS} times in its own process, after a short warm-up in that process; the sides alternate. ` +
      `The machine was shared with other work (1-minute load average ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} on ${os.cpus().length} cores).`,
  ];
  return { markdown: lines.join("\n") };
}
