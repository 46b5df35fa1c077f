// Prompt processing (a 512-token batch from position 0, logits for the last
// position) with shortgpt's engine against llama.cpp through node-llama-cpp,
// same model file, same thread count, same token ids, in the same run. Each
// side runs in its own process (peak RSS is per process), the two alternate,
// and the table quotes medians; ours also reports where its time goes.
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";

import { median, runMeasured } from "./_stats.mjs";

export const description =
  "Prompt processing, 512 tokens in one batch: shortgpt's CPU engine vs llama.cpp (node-llama-cpp 3.21.1) on the same file and thread count, alternating processes; medians of 10 runs each.";

const TOKENS = 512;
const ROUNDS = 2;
const RUNS_PER_PROCESS = 5;

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
    const ours = [];
    const theirs = [];
    let oursRss = 0;
    let theirRss = 0;
    let profile;
    const ratios = [];
    const loads = [os.loadavg()[0]];
    for (let round = 0; round < ROUNDS; round++) {
      const a = await runMeasured(process.execPath, [worker, "ours", path, String(threads), String(RUNS_PER_PROCESS), idsPath]);
      const b = await runMeasured(process.execPath, [worker, "llama", path, String(threads), String(RUNS_PER_PROCESS), idsPath]);
      const ra = JSON.parse(a.stdout.trim().split("\n").pop());
      const rb = JSON.parse(b.stdout.trim().split("\n").pop());
      ours.push(...ra.seconds);
      theirs.push(...rb.seconds);
      oursRss = Math.max(oursRss, a.maxRssBytes ?? 0);
      theirRss = Math.max(theirRss, b.maxRssBytes ?? 0);
      profile = ra.profile;
      ratios.push(median(rb.seconds) / median(ra.seconds));
      loads.push(os.loadavg()[0]);
      log(`${m.label}: round ${round + 1}: shortgpt median ${median(ra.seconds).toFixed(3)} s, llama.cpp median ${median(rb.seconds).toFixed(3)} s`);
    }
    rows.push({ ...m, ours: median(ours), theirs: median(theirs), oursRss, theirRss, profile, ratios, loads });
  }

  const lines = [
    `| model | shortgpt | llama.cpp | speed vs llama.cpp | per process pair | peak RSS shortgpt | peak RSS llama.cpp |`,
    `| --- | ---: | ---: | ---: | ---: | ---: | ---: |`,
    ...rows.map(
      (r) =>
        `| ${r.label} | ${(TOKENS / r.ours).toFixed(0)} tok/s (${r.ours.toFixed(3)} s) | ${(TOKENS / r.theirs).toFixed(0)} tok/s (${r.theirs.toFixed(3)} s) | ${(r.theirs / r.ours).toFixed(2)}× | ${r.ratios.map((x) => `${x.toFixed(2)}×`).join(", ")} | ${(r.oursRss / 2 ** 20).toFixed(0)} MiB | ${(r.theirRss / 2 ** 20).toFixed(0)} MiB |`,
    ),
    "",
    `${threads} threads on both sides; ${TOKENS} tokens of English text (nlp-corpus) per pass, one sequence from position 0, logits for the last position only; ` +
      `llama.cpp with its defaults (flash attention "auto", F16 KV cache, batch = ubatch = ${TOKENS}). Each side runs ${ROUNDS} processes × ${RUNS_PER_PROCESS} timed passes after a warm-up pass; ` +
      "the ratio is llama.cpp's time / ours (above 1 = shortgpt faster), overall and per pair of processes. Peak RSS is the whole process (/usr/bin/time), weights mapped from the page cache. " +
      `The machine was shared with other work (1-minute load average ${Math.min(...rows.flatMap((r) => r.loads)).toFixed(1)}–${Math.max(...rows.flatMap((r) => r.loads)).toFixed(1)} on ${os.cpus().length} cores): absolute speeds move with the load, and so, less, does the ratio (the per-pair column shows by how much in this run).`,
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
