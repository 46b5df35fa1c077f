#!/usr/bin/env node
// How far llama.cpp's own numbers move from the committed reference fixtures
// (test/fixtures/reference) when it runs with other settings or on another CPU: the figures the
// tests' tolerances against llama.cpp are set from.
//
//   node scripts/llama-variation.mjs [--models a,b] [--json FILE]
//   node scripts/llama-cpu-variant.mjs x64 -- node scripts/llama-variation.mjs --json /tmp/x64.json
//
// With the llama.cpp this process loads (whatever ggml CPU variant it picks; see
// scripts/llama-cpu-variant.mjs), for each model and each setting — flash attention "auto" and
// off, 1 and 2 threads — it recomputes what the fixtures hold and compares it with the fixture's
// numbers for the same attention variant:
//   next-token  the greedy token at all 3 × 128 positions of the three book texts, and ln p of
//               the text's next token and of the greedy token (all positions; every 8th for
//               Gemma 3, whose 262k-entry distributions cost ~0.3 s each)
//   perplexity  ΣNLL of WikiText-2 chunks (all 20 for stories260K, 2 for SmolLM2, 1 for Gemma 3)
// and prints, beside them, how far the fixture's two attention variants are from each other.
// 2-thread runs do the next-token part only (a loaded 2-core machine makes them slow).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const MODEL_IDS = ["stories260K", "smollm2-135m", "gemma3-270m"];
const SETTINGS = [
  { flashAttention: "auto", threads: 1, perplexity: true },
  { flashAttention: false, threads: 1, perplexity: true },
  { flashAttention: "auto", threads: 2, perplexity: false },
];
const CHUNKS = { "stories260K": 20, "smollm2-135m": 2, "gemma3-270m": 1 };
const FULL_EVERY = { "stories260K": 1, "smollm2-135m": 1, "gemma3-270m": 8 };

function parseArgs(argv) {
  const args = { models: MODEL_IDS, json: undefined, threads: [1, 2], flash: ["auto", false] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--models") args.models = argv[++i].split(",");
    else if (argv[i] === "--json") args.json = argv[++i];
    else if (argv[i] === "--threads") args.threads = argv[++i].split(",").map(Number);
    else if (argv[i] === "--flash") args.flash = argv[++i].split(",").map((v) => (v === "false" ? false : v));
    else if (argv[i] === "--help" || argv[i] === "-h") {
      console.log("usage: node scripts/llama-variation.mjs [--models stories260K,smollm2-135m,gemma3-270m] [--flash auto,false] [--threads 1,2] [--json FILE]");
      process.exit(0);
    } else throw new Error(`unknown argument ${argv[i]}`);
  }
  for (const m of args.models) if (!MODEL_IDS.includes(m)) throw new Error(`unknown model ${m}`);
  return args;
}

async function loadHelpers() {
  const { runnerImport } = await import("vite");
  const options = { root: ROOT, configFile: false, logLevel: "error" };
  const ref = (await runnerImport(join(ROOT, "test/helpers/llama-reference.ts"), options)).module;
  const fx = (await runnerImport(join(ROOT, "test/helpers/reference-fixtures.ts"), options)).module;
  return { ref, fx };
}

// The positions test/reference-harness.test.ts reads full distributions at (pg84).
const HARNESS_POSITIONS = [0, 1, 63, 126];

/** Agreement and |Δ ln p| of `fresh` (per text: argmax[], items[]) against fixture variants. */
function compareNextToken(texts) {
  const out = { positions: 0, agree: 0, agreePerText: [], maxTarget: 0, meanTarget: 0, maxArgmax: 0, compared: 0, harnessPositions: {} };
  let sum = 0;
  for (const { name, argmax, items, fixture } of texts) {
    let agree = 0;
    argmax.forEach((a, t) => {
      out.positions++;
      if (a === fixture.argmax[t]) agree++;
    });
    out.agree += agree;
    out.agreePerText.push(agree);
    for (const item of items) {
      out.compared++;
      out.maxArgmax = Math.max(out.maxArgmax, Math.abs(item.argmaxLogprob - fixture.argmaxLogprob[item.position]));
      if (item.target !== null) {
        const d = Math.abs(item.logprob - fixture.targetLogprob[item.position]);
        out.maxTarget = Math.max(out.maxTarget, d);
        sum += d;
      }
      if (name === "pg84" && HARNESS_POSITIONS.includes(item.position)) {
        out.harnessPositions[item.position] = {
          target: item.target === null ? null : Math.abs(item.logprob - fixture.targetLogprob[item.position]),
          argmax: Math.abs(item.argmaxLogprob - fixture.argmaxLogprob[item.position]),
        };
      }
    }
  }
  out.meanTarget = sum / Math.max(1, out.compared - texts.length);
  return out;
}

/** The fixture's flash-attention-on vs -off distance, the same way. */
function fixtureSelf(nextToken, perplexity) {
  const out = { positions: 0, agree: 0, maxTarget: 0, maxArgmax: 0 };
  for (const text of nextToken.texts) {
    const [a, b] = text.variants;
    a.argmax.forEach((x, t) => {
      out.positions++;
      if (x === b.argmax[t]) out.agree++;
      out.maxArgmax = Math.max(out.maxArgmax, Math.abs(a.argmaxLogprob[t] - b.argmaxLogprob[t]));
      if (t < a.targetLogprob.length) out.maxTarget = Math.max(out.maxTarget, Math.abs(a.targetLogprob[t] - b.targetLogprob[t]));
    });
  }
  const [pa, pb] = perplexity.variants;
  out.chunkRel = Math.max(...pa.perChunk.map((c, i) => Math.abs(c.nll / pb.perChunk[i].nll - 1)));
  out.pplRel = Math.abs(pa.perplexity / pb.perplexity - 1);
  return out;
}

const e = (x) => x.toExponential(2);

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const { ref, fx } = await loadHelpers();
  const info = await ref.referenceInfo();
  console.error(`llama-variation: llama.cpp ${info.llamaCpp.release}, CPU variant ${info.cpuVariant} (${info.cpu})`);
  const rows = [];
  for (const id of args.models) {
    const why = fx.referenceModelUnavailable(id);
    if (why) {
      console.error(`llama-variation: ${id} skipped: ${why}`);
      continue;
    }
    const nextToken = await fx.loadReferenceFixture(id, "next-token");
    const perplexity = await fx.loadReferenceFixture(id, "perplexity");
    const model = await ref.loadReferenceModel(fx.referenceModel(id).path);
    const self = fixtureSelf(nextToken, perplexity);
    console.error(
      `llama-variation: ${id} fixture (${nextToken.generator.cpuVariant ?? "variant not recorded"}): flash attention on vs off: greedy ${self.agree}/${self.positions}, ` +
        `max |Δ ln p| target ${e(self.maxTarget)}, greedy ${e(self.maxArgmax)}; chunk ΣNLL ${e(self.chunkRel)} rel., PPL ${e(self.pplRel)} rel.`,
    );
    const tokens = ref.perplexityTokenize(model, fx.readFixtureText(perplexity.text));
    const plan = ref.perplexityPlan(tokens.ids.length, perplexity.settings.ctx, perplexity.settings.chunks);
    for (const setting of SETTINGS.filter((x) => args.threads.includes(x.threads) && args.flash.includes(x.flashAttention))) {
      const options = { threads: setting.threads, flashAttention: setting.flashAttention };
      const started = performance.now();
      const texts = [];
      for (const text of nextToken.texts) {
        const ids = fx.nextTokenTextIds(model, nextToken, text);
        const fixture = fx.fixtureVariant(text, setting.flashAttention);
        const argmax = await ref.referenceGreedyArgmax(model, ids, options);
        const positions = ids.map((_, t) => t).filter((t) => t % FULL_EVERY[id] === 0 || (text.name === "pg84" && HARNESS_POSITIONS.includes(t)));
        const { items } = await ref.referenceNextTokenLogprobs(model, ids, { ...options, positions });
        texts.push({ name: text.name, argmax, items, fixture });
      }
      const row = { model: id, cpuVariant: info.cpuVariant, cpu: info.cpu, ...options, fixtureCpuVariant: nextToken.generator.cpuVariant ?? null, ...compareNextToken(texts) };
      if (setting.perplexity) {
        const fixture = fx.fixtureVariant(perplexity, setting.flashAttention);
        const chunks = await ref.referencePerplexityChunks(model, tokens, plan, Array.from({ length: CHUNKS[id] }, (_, i) => i), options);
        row.chunks = chunks.map((c) => ({ index: c.index, nll: c.nll, fixtureNll: fixture.perChunk[c.index].nll, rel: c.nll / fixture.perChunk[c.index].nll - 1 }));
        row.chunkRel = Math.max(...row.chunks.map((c) => Math.abs(c.rel)));
        row.chunkNllPerToken = Math.max(...chunks.map((c) => Math.abs(c.nll - fixture.perChunk[c.index].nll) / c.count));
      }
      row.seconds = (performance.now() - started) / 1000;
      rows.push(row);
      console.error(
        `llama-variation: ${id} ${info.cpuVariant} fa=${String(setting.flashAttention)} threads=${setting.threads}: greedy ${row.agree}/${row.positions} (${row.agreePerText.join(", ")}), ` +
          `|Δ ln p| target max ${e(row.maxTarget)} mean ${e(row.meanTarget)}, greedy max ${e(row.maxArgmax)} (${row.compared} positions; pg84 ${HARNESS_POSITIONS.join(",")}: ` +
          `${HARNESS_POSITIONS.map((t) => e(Math.max(row.harnessPositions[t]?.target ?? 0, row.harnessPositions[t]?.argmax ?? 0))).join(" ")})` +
          (row.chunks ? `; chunk ΣNLL max ${e(row.chunkRel)} rel. (${e(row.chunkNllPerToken)} nats/token) over ${row.chunks.length} chunks` : "") +
          `; ${row.seconds.toFixed(0)} s`,
      );
    }
    rows.push({ model: id, fixtureSelf: self });
    await model.dispose();
  }
  if (args.json) writeFileSync(args.json, JSON.stringify({ info, rows }, null, 1) + "\n");
}

await main();
process.exit(0);
