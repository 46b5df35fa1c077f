// Prompt processing (a 512-token batch from position 0, logits for the last
// position) with shortgpt's engine against llama.cpp through node-llama-cpp,
// same model file, same thread count, same token ids, in the same run. Each
// side runs in its own process (peak RSS is per process); both stay alive and
// their passes interleave (round r runs each once, the order alternating), so
// a change in the machine's load hits both alike. The table quotes medians,
// min-max and the per-round ratios, flags a ratio too noisy to trust
// (src/cli/bench-stats.ts), and shows where our time goes.
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";

import { compareTimes, formatComparison, median, spreadOf, startWorker, warningsMarkdown } from "./_stats.mjs";

export const description =
  "Prompt processing, 512 tokens in one batch: shortgpt's CPU engine vs llama.cpp (node-llama-cpp 3.21.1) on the same file and thread count, passes interleaved; medians (min-max) of 10 passes each.";

const TOKENS = 512;
const ROUNDS = 10;

const STEPS = [
  ["qkv", "Q/K/V projections"],
  ["rope", "biases, QK-norm, RoPE"],
  ["attention", "attention"],
  ["outProj", "output projection"],
  ["ffnUp", "FFN gate + up"],
  ["ffnAct", "SwiGLU / GeGLU"],
  ["ffnDown", "FFN down"],
  ["norm", "norms"],
  ["residual", "residual adds, post-norms"],
  ["embed", "embedding"],
  ["logits", "output head (1 row)"],
];

export async function run({ log, root, args }) {
  const threads = Number(args.find((a) => a.startsWith("--threads="))?.slice(10) ?? Math.min(os.cpus().length, 4));
  const { cachedModelPath, fetchModel } = await import(join(root, "dist", "models", "fetch.js"));
  const { readGguf } = await import(join(root, "dist", "gguf", "read.js"));
  const { loadTokenizer } = await import(join(root, "dist", "tokenizer", "index.js"));
  const work = join(root, ".cache", "bench");
  mkdirSync(work, { recursive: true });
  const worker = join(root, "scripts", "bench", "_forward-worker.mjs");
  const models = [
    { id: "smollm2-135m", label: "SmolLM2-135M Q4_1" },
    { id: "gemma3-270m", label: "Gemma 3 270M Q4_K_M" },
  ];
  const rows = [];
  for (const m of models) {
    await fetchModel(m.id, { log });
    const path = cachedModelPath(m.id);
    // The same ids for both sides: English text through the model's own tokenizer.
    const tokenizer = loadTokenizer(readGguf(path));
    const { nlpCorpusText } = await import(join(root, "dist", "data", "nlp-corpus.js"));
    const text = nlpCorpusText({ documents: [0, 1, 2, 3], maxCharacters: 20000 }).text;
    const ids = [...(tokenizer.addBos ? [tokenizer.special.bos] : []), ...tokenizer.encode(text, { addSpecial: false })].slice(0, TOKENS);
    if (ids.length < TOKENS) throw new Error(`${m.label}: the text gave only ${ids.length} tokens`);
    const idsPath = join(work, `forward-${m.id}.json`);
    writeFileSync(idsPath, JSON.stringify(ids));
    const loads = [os.loadavg()[0]];
    const workers = {};
    try {
      for (const side of ["ours", "llama"]) workers[side] = await startWorker(process.execPath, [worker, side, path, String(threads), idsPath]);
      const seconds = { ours: [], llama: [] };
      for (let round = 0; round < ROUNDS; round++) {
        for (const side of round % 2 === 0 ? ["ours", "llama"] : ["llama", "ours"]) seconds[side].push((await workers[side].request("run")).seconds);
        loads.push(os.loadavg()[0]);
      }
      const ours = await workers.ours.finish();
      const theirs = await workers.llama.finish();
      const comparison = compareTimes(seconds.llama, seconds.ours, `${m.label}: shortgpt vs llama.cpp prefill`);
      log(`${m.label}: shortgpt median ${median(seconds.ours).toFixed(3)} s, llama.cpp median ${median(seconds.llama).toFixed(3)} s, ${formatComparison(comparison)}`);
      rows.push({ ...m, ours: spreadOf(seconds.ours), theirs: spreadOf(seconds.llama), oursRss: ours.maxRssBytes ?? 0, theirRss: theirs.maxRssBytes ?? 0, profile: ours.last.profile, comparison, loads });
    } finally {
      for (const w of Object.values(workers)) w.kill();
    }
  }

  const rate = (s) => `${(TOKENS / s.median).toFixed(0)} (${(TOKENS / s.max).toFixed(0)}-${(TOKENS / s.min).toFixed(0)}) tok/s`;
  const lines = [
    `| model | shortgpt | llama.cpp | speed vs llama.cpp (per-round range) | peak RSS shortgpt | peak RSS llama.cpp |`,
    `| --- | ---: | ---: | ---: | ---: | ---: |`,
    ...rows.map(
      (r) =>
        `| ${r.label} | ${rate(r.ours)} | ${rate(r.theirs)} | ${formatComparison(r.comparison)} | ${(r.oursRss / 2 ** 20).toFixed(0)} MiB | ${(r.theirRss / 2 ** 20).toFixed(0)} MiB |`,
    ),
    "",
    `${threads} threads on both sides; ${TOKENS} tokens of English text (nlp-corpus) per pass, one sequence from position 0, logits for the last position only; ` +
      `llama.cpp with its defaults (flash attention "auto", F16 KV cache, batch = ubatch = ${TOKENS}). Each side runs in one process: a warm-up pass, then ${ROUNDS} timed passes interleaved with the other side's ` +
      "(round r runs each side once, the order alternating). Speeds are medians with the passes' min-max; the ratio is llama.cpp's median time / ours (above 1 = shortgpt faster), with the range of the per-round ratios. " +
      "Peak RSS is the whole process (/usr/bin/time), weights mapped from the page cache. " +
      `The machine was shared with other work (1-minute load average ${Math.min(...rows.flatMap((r) => r.loads)).toFixed(1)}–${Math.max(...rows.flatMap((r) => r.loads)).toFixed(1)} on ${os.cpus().length} cores).`,
    ...(warningsMarkdown(rows.map((r) => r.comparison)) ? ["", warningsMarkdown(rows.map((r) => r.comparison))] : []),
    "",
    "Where shortgpt's time goes (share of the timed passes, from the engine's own per-step clock):",
    "",
    `| step | ${rows.map((r) => r.label).join(" | ")} |`,
    `| --- | ${rows.map(() => "---:").join(" | ")} |`,
    ...STEPS.map(([key, name]) => {
      const cells = rows.map((r) => {
        const total = Object.values(r.profile).reduce((a, b) => a + b, 0);
        return `${((100 * (r.profile[key] ?? 0)) / total).toFixed(1)}%`;
      });
      return `| ${name} | ${cells.join(" | ")} |`;
    }),
  ];
  return { markdown: lines.join("\n") };
}
