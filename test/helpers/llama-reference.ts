/**
 * llama.cpp as the reference in tests, through node-llama-cpp@3.21.1's prebuilt CPU binaries
 * (../shared/docs/node-llama-cpp-as-reference.md): never built, never downloaded. One Llama
 * instance per test process.
 *
 * ## API
 *
 * - `referenceLlama()`, `loadReferenceModel(path)`, `referenceInfo()`, `referenceVocabSize(model)`.
 * - `generateGreedy(model, promptIds, count)`: greedy continuation.
 * - `referenceNextTokenLogprobs(model, ids, { threads, positions })`: for `ids` evaluated from
 *   position 0, at each requested position t: ln p(ids[t+1]) (the "target"), and the argmax token
 *   with its ln p. Exact (see below).
 * - `referenceGreedyArgmax(model, ids, { threads, positions })`: the argmax only; 4-25× faster.
 * - `referencePerplexity(modelPath | model, text, { ctx = 512, chunks, threads })`: what
 *   llama-perplexity computes; `perplexityTokenize`, `perplexityPlan`, `perplexityChunkIds`,
 *   `referencePerplexityChunks`, `aggregatePerplexity` are its pieces (the fixture script runs
 *   chunks in several processes and merges them with `aggregatePerplexity`).
 *
 * ## Conventions
 *
 * - Log-probabilities are natural logs (nats); an NLL is −ln p. Positions are 0-based indices
 *   into the evaluated sequence; "position t" scores the distribution of the token after t.
 * - Every sequence is evaluated from position 0 in a fresh context of `length + 1` cells: a
 *   node-llama-cpp context keeps one slot free and silently shifts (drops tokens) when it is
 *   full. After each evaluation we assert that the sequence holds exactly the tokens put in.
 * - `threads` only splits work: ggml computes each dot product, softmax row and attention row on
 *   one thread, so results are bitwise independent of it (checked on stories260K in
 *   test/reference-harness.test.ts). Prefer 1 in tests: on a busy 2-core machine 2 threads spin
 *   at ggml's barriers (token-by-token generation ran 400× slower).
 * - `flashAttention` defaults to "auto", the default of both node-llama-cpp and llama-perplexity
 *   (on CPU llama.cpp resolves "auto" to enabled). K and V are cached as f16 either way.
 * - Perplexity (llama-perplexity, tools/perplexity/perplexity.cpp): drop one trailing "\n" of the
 *   text; tokenize the whole text once (parse_special off) and prepend BOS when the vocab adds
 *   BOS (node-llama-cpp's `tokenize` adds none); n_chunk = ⌊tokens/ctx⌋, capped by `chunks`, at
 *   least 2·ctx tokens required; chunk i = tokens [i·ctx, (i+1)·ctx) evaluated from position 0
 *   with its first token *overwritten* by BOS (when the vocab adds BOS); positions
 *   [⌊ctx/2⌋, ctx−2] are scored against the next token (ctx − 1 − ⌊ctx/2⌋ = 255 per 512-token
 *   chunk); PPL = exp(ΣNLL / count). Our ΣNLL adds each chunk's sum (itself summed in position
 *   order) in chunk order; llama-perplexity adds positions in one running sum: the two differ by
 *   double rounding only. A vocab that adds EOS is refused, as llama-perplexity asserts.
 *
 * ## How the numbers are read, and what is exact
 *
 * node-llama-cpp has no raw-logits API. `sequence.controlledEvaluate(items)` with
 * `generateNext: { probabilities: true, token: true }` on an item gives, at temperature 0 (greedy
 * sampler; no top-k/top-p/penalties in the chain), the softmax over the whole vocabulary (we check
 * the map size is the vocab size) and the greedy token (the argmax; ties go to the lowest id).
 * The addon computes that softmax in float32 with a float32 running sum over the logits sorted in
 * descending order: every term smaller than half an ulp of the running sum is lost, so the
 * normalizer comes out too small and the probabilities sum to 1 + 1.5e-4 (SmolLM2, 49k vocab)
 * ... 1 + 1.3e-3 (Gemma 3, 262k vocab) — a bias of that size on every ln p. llama-perplexity
 * sums exp(logit − max) in double. So we renormalize: ln p_t = ln(P[t]) − ln(Σ_j P[j]) with the
 * sum in double. Each P[j] is expf(l_j − m)/S correctly rounded, so this equals llama-perplexity's
 * `logit[t] − max − log(Σ expf(logit − max))` to ~1e-7 (expf and one division, float rounding).
 * The argmax and its ln p are read the same way (its P[j] is the map's first entry; we check).
 *
 * Underflow: P[t] of a very unlikely target can be a float32 subnormal or 0 (logit more than
 * ~87 nats below the max). Any target with P[t] < `recoverBelow` (default 1e-30) is recovered,
 * not skipped: the whole sequence is evaluated again with the same output rows (llama.cpp's
 * numbers depend on the batch, see below, so only an identical pass is exact) and a logit bias b
 * on each such target (b aimed to lift it near the top; retried until it is representable).
 * Non-target probabilities keep their ratios, so ln p_t = ln P'[t] − b − ln R − ln(1 + P'[t]e^(−b)/R)
 * with R = Σ_{j≠t} P'[j] in double. The re-run is checked against the main pass (the same greedy
 * tokens elsewhere; the two most likely non-target tokens keep their ratio to 1e-6). Error: one
 * float32 rounding of the biased logit l_t + b (≤ 2^−24·|l_t + b|, ~1e-6 nats). Only an
 * end-of-generation target cannot be biased (node-llama-cpp's TokenBias ignores EOG tokens): it
 * is reported in `skipped` (logprob NaN), and referencePerplexity throws rather than skip. None
 * of the three test models underflows on real text (the smallest P seen over whole vocabularies
 * is ~1e-22); `recoverBelow: 2` forces every position through the re-run, which the harness test
 * uses to check it against the direct values.
 *
 * ## What llama.cpp's own numbers depend on (measured; mind it when setting engine tolerances)
 *
 * - Flash attention. "auto" (= on, on CPU) and false give different numbers. stories260K: mean
 *   NLL −8.8e-5 vs +2.4e-5 from a float64 forward (64 tokens); 20-chunk wikitext PPL 96.8959 vs
 *   96.8917. SmolLM2-135M (Q4_1): PPL 28.7070 vs 28.7268 (0.07%), but on the three 128-token
 *   book texts the greedy tokens agree at only 357 of 384 positions (93%) and ln p(next) differs
 *   by up to 0.59 nats. Gemma 3 270M (Q4_K_M): PPL 19.0276 vs 18.9981 (0.16%; single
 *   chunks up to 0.7%), greedy agreement 372 of 384 (96.9%), ln p differs by up to 0.60 nats.
 *   The fixtures hold both variants.
 * - Batch length, with flash attention only: the same position evaluated in a 62-token and a
 *   64-token batch differs by 0.095 nats on SmolLM2 (4.6e-6 on stories260K); without flash
 *   attention no difference was seen (62 to 160 tokens). A 1-row output matrix product differs
 *   from a many-row one by ~1e-6 (stories260K). The harness therefore evaluates whole sequences
 *   in one batch and, for perplexity, requests logit rows exactly where llama-perplexity does
 *   (positions ⌊ctx/2⌋ … ctx−1).
 * - Not on the thread count (bitwise, tested).
 * - The CPU: node-llama-cpp ships one ggml CPU library per x86-64 generation and ggml loads the
 *   best the CPU supports (`referenceCpuVariant()`: "haswell" on an AVX2 AMD EPYC, "icelake" on an
 *   AVX-512 VNNI Xeon). Within a variant the numbers are bitwise reproducible; between variants
 *   they move by about as much as between the two attention kernels (against the "haswell"
 *   fixtures, "icelake" moved stories260K's ln p by up to 1.9e-2 with flash attention — its
 *   flash-attention kernel rounds differently — and SmolLM2's greedy tokens at 3-9% of positions;
 *   the SIMD-less "x64" moved one SmolLM2 ln p by 1.0 nats). reference-fixtures.ts has the
 *   measured table and the tolerances (CROSS_VARIANT); scripts/llama-cpu-variant.mjs runs a
 *   command under any variant the CPU can run, scripts/llama-variation.mjs measures the spread.
 * - Versus exact arithmetic: a numpy float64 forward (dequantized weights, exact attention)
 *   differs from llama.cpp by 1.6e-3 nats per position on average on stories260K (F32 weights:
 *   only the f16 K/V cache and f32 math), but on SmolLM2-135M Q4_1 by 0.06-0.08 nats on average
 *   and up to 0.49, with greedy agreement 92-96% per 128-token book text, against either
 *   attention variant. Multiplying every matrix-product input by (1 + 0.01·N(0,1)) in the float64
 *   forward moves it by as much (0.066 mean, 0.30 max), while f16 rounding of Q, K, V and the
 *   attention weights moves it by only 7e-4: the distance is SmolLM2's sensitivity to
 *   llama.cpp's 8-bit quantization of the activations before each quantized matrix product
 *   (Q8_1 for Q4_1 weights, Q8_0 for the Q8_0 output matrix), made coarse by its outlier
 *   activations. An engine that multiplies in f32 with dequantized weights should expect that
 *   distance from llama.cpp on SmolLM2 (≈ 95% greedy agreement, not 99%) while its perplexity
 *   still agrees to a fraction of a percent; the float32-sum bias above (≤ 1.3e-3 per token) is
 *   small beside it.
 *
 * ## Speed (ms per scored position beyond the forward pass itself, 1 thread, the 2-core dev
 * machine shared with other work, so ±30%; the forward pass is ≈ 4-8 ms/token for the two PyPI
 * models and ≈ 0.1 ms for stories260K)
 *
 * | method (generateNext)               | 512 (stories260K) | 49,152 (SmolLM2) | 262,144 (Gemma 3) | exact? |
 * |-------------------------------------|------:|------:|------:|---|
 * | `token` (greedy id)                  |  0.06 |  0.6–1.5 |   6.8 | argmax only |
 * | `confidence` + `token`               |  0.08 |  3.4–6.6 |  31   | argmax; its p carries the float-sum bias |
 * | `probabilities` + `token` (used)     |  0.28 | 21–25    | 170–450 | yes, after double renormalization |
 *
 * Measured with controlledEvaluate over 128 wikitext-2 tokens, outputs at every position, minus
 * the same evaluation without outputs, minimum of 2 runs (450: during the fixture run, with two
 * worker processes and other developers' tests on the 2 cores). Where the time goes at 262k: the
 * addon's std::sort of the whole vocabulary (~20 ms, also paid by `confidence`), then building a
 * 524k-element JS array in the addon's OnOK on the main thread (~120 ms) and node-llama-cpp's Map
 * (~25 ms). The `token` path computes the logits for every output position (the output matrix
 * product, ≈ 6 ms/position at 262k×640) and finds the argmax.
 *
 * Tried and rejected: (1) several sequences in one context: their samplers run concurrently on
 * the libuv pool, but the probabilities path is bound by main-thread work; 2 sequences gained
 * ≈ 15% at 49k. Several *processes* scale (scripts/make-reference-fixtures.mjs uses them).
 * (2) `confidence` plus a logit bias on the target to recover p(target) from p(selected)
 * algebraically (p = q/(e^b(1−q) + q)): 5× cheaper per pass but it needs 2–3 passes (b must be
 * within a few nats of ln p(argmax) − ln p(target), unknown in advance), and it inherits the
 * float32-sum bias, which the biased normalizer cannot be cleaned of: errors of 1e-4 to 4e-2
 * nats against the full distribution on SmolLM2, depending on how well b was guessed.
 * (3) Reading the addon's raw array (skipping node-llama-cpp's Map) saves only ≈ 20% and needs
 * its internals.
 * Essential for memory: node-llama-cpp keeps every output object until controlledEvaluate
 * returns; we drop each probabilities Map in the callback (0.84 GB heap for 48 positions at 262k
 * otherwise, ≈ 4.5 GB for a 512-token chunk).
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus } from "node:os";
import { dirname, join } from "node:path";

import {
  getLlama,
  Llama,
  LlamaLogLevel,
  TokenBias,
  type ControlledEvaluateIndexOutput,
  type ControlledEvaluateInputItem,
  type LlamaContextSequence,
  type LlamaModel,
  type Token,
} from "node-llama-cpp";

let llamaPromise: Promise<Llama> | undefined;
let loadedCpuVariant: string | undefined;

/** ggml's line naming the CPU variant it loaded: "load_backend: loaded CPU backend from …/libggml-cpu-haswell.so". */
const CPU_VARIANT_LINE = /loaded CPU backend from .*libggml-cpu-([\w-]+)\.(?:so|dll|dylib)\b/;

export function referenceLlama(): Promise<Llama> {
  llamaPromise ??= getLlama({
    gpu: false,
    build: "never",
    usePrebuiltBinaries: true,
    skipDownload: true,
    // "log" to see which CPU variant ggml loads (the only thing read at that level); errors are
    // printed as node-llama-cpp's default logger prints them, everything else is dropped.
    logLevel: LlamaLogLevel.log,
    logger: (level, message) => {
      const variant = CPU_VARIANT_LINE.exec(message)?.[1];
      if (variant !== undefined) loadedCpuVariant = variant;
      if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) Llama.defaultConsoleLogger(level, message);
    },
    progressLogs: false,
  });
  return llamaPromise;
}

/**
 * The ggml CPU variant llama.cpp loaded ("haswell" on an AVX2 CPU, "icelake" on an AVX-512 VNNI
 * Xeon, …; scripts/llama-cpu-variant.mjs lists them and runs a command with another one). Its
 * numbers are bitwise reproducible within a variant and differ in the last bits between variants.
 */
export async function referenceCpuVariant(): Promise<string> {
  await referenceLlama();
  // The log line reaches JavaScript asynchronously, after getLlama resolves.
  for (let i = 0; i < 100 && loadedCpuVariant === undefined; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  if (loadedCpuVariant === undefined) throw new Error("llama.cpp did not report which CPU variant it loaded");
  return loadedCpuVariant;
}

export async function loadReferenceModel(path: string): Promise<LlamaModel> {
  const llama = await referenceLlama();
  return llama.loadModel({ modelPath: path });
}

/** What produced the reference numbers; recorded in every fixture. */
export interface ReferenceInfo {
  nodeLlamaCpp: string;
  llamaCpp: { repo: string; release: string };
  buildType: string;
  backend: "cpu";
  /** The ggml CPU variant loaded (referenceCpuVariant). */
  cpuVariant: string;
  /** The CPU's model name, as the OS reports it. */
  cpu: string;
}

/** The installed node-llama-cpp version (its package.json; the package does not export that path). */
export function installedNodeLlamaCppVersion(): string {
  const require = createRequire(import.meta.url);
  const entry = require.resolve("node-llama-cpp"); // <package>/dist/index.js
  const pkg = JSON.parse(readFileSync(join(dirname(dirname(entry)), "package.json"), "utf8")) as { name?: string; version?: string };
  if (pkg.name !== "node-llama-cpp" || typeof pkg.version !== "string") throw new Error(`unexpected package.json beside ${entry}`);
  return pkg.version;
}

export async function referenceInfo(): Promise<ReferenceInfo> {
  const llama = await referenceLlama();
  return {
    nodeLlamaCpp: installedNodeLlamaCppVersion(),
    llamaCpp: { repo: llama.llamaCppRelease.repo, release: llama.llamaCppRelease.release },
    buildType: llama.buildType,
    backend: "cpu",
    cpuVariant: await referenceCpuVariant(),
    cpu: cpus()[0]?.model.trim() ?? "unknown",
  };
}

/** Number of logits per position: the length of tokenizer.ggml.tokens. */
export function referenceVocabSize(model: LlamaModel): number {
  const metadata = model.fileInfo.metadata as { tokenizer?: { ggml?: { tokens?: unknown } } };
  const tokens = metadata.tokenizer?.ggml?.tokens;
  if (!Array.isArray(tokens) || tokens.length === 0) throw new Error("the model has no tokenizer.ggml.tokens array");
  return tokens.length;
}

/**
 * Greedy continuation of `promptIds` for `count` tokens with llama.cpp.
 * The context is one token larger than needed (the context-shift trap). One thread by default:
 * token-by-token decoding is all barriers, and with 2 threads on a busy 2-core machine it ran
 * 400× slower (135 s instead of 0.3 s for 200 stories260K tokens).
 */
export async function generateGreedy(model: LlamaModel, promptIds: readonly number[], count: number, threads = 1): Promise<number[]> {
  const context = await model.createContext({ contextSize: promptIds.length + count + 1, threads });
  try {
    const sequence = context.getSequence();
    const out: number[] = [];
    for await (const token of sequence.evaluate(promptIds as never, { temperature: 0 })) {
      out.push(token as number);
      if (out.length >= count) break;
    }
    return out;
  } finally {
    await context.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// Evaluation plumbing

export interface ReferenceEvalOptions {
  /** llama.cpp threads. Results do not depend on it; use the engine's value. */
  threads: number;
  /** Default "auto" (llama-perplexity's and node-llama-cpp's default; enabled on CPU). */
  flashAttention?: boolean | "auto";
}

/** Runs `fn` on the only sequence of a fresh context with room for `length` tokens (+1, see above). */
async function withSequence<T>(model: LlamaModel, length: number, options: ReferenceEvalOptions, fn: (sequence: LlamaContextSequence) => Promise<T>): Promise<T> {
  if (!Number.isInteger(options.threads) || options.threads < 1) throw new Error(`threads must be a positive integer, got ${options.threads}`);
  const context = await model.createContext({
    contextSize: length + 1,
    sequences: 1,
    threads: options.threads,
    flashAttention: options.flashAttention ?? "auto",
  });
  try {
    return await fn(context.getSequence());
  } finally {
    await context.dispose();
  }
}

function assertSequenceHolds(sequence: LlamaContextSequence, expected: readonly number[], what: string): void {
  const held = sequence.contextTokens;
  if (held.length !== expected.length || held.some((token, i) => token !== expected[i])) {
    throw new Error(
      `${what}: the sequence holds ${held.length} tokens, not the ${expected.length} put in ` +
        "(a context shift or a stale sequence would change every number that follows)",
    );
  }
}

function checkIds(ids: readonly number[], vocabSize: number, what: string): void {
  if (ids.length === 0) throw new Error(`${what}: no tokens`);
  for (const [i, id] of ids.entries()) {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new Error(`${what}: ids[${i}] = ${id} is not a token id of a ${vocabSize}-token vocab`);
  }
}

function checkPositions(positions: readonly number[], length: number, what: string): number[] {
  const sorted = [...positions].sort((a, b) => a - b);
  for (const [i, t] of sorted.entries()) {
    if (!Number.isInteger(t) || t < 0 || t >= length) throw new Error(`${what}: position ${t} is outside [0, ${length - 1}]`);
    if (i > 0 && sorted[i - 1] === t) throw new Error(`${what}: position ${t} is requested twice`);
  }
  return sorted;
}

/** The first `count` entries of a probabilities map (it is ordered by logit, highest first). */
function topEntries(probabilities: Map<Token, number>, count: number, exclude: number): [number, number][] {
  const out: [number, number][] = [];
  for (const [token, p] of probabilities) {
    if (token === exclude) continue;
    out.push([token, p]);
    if (out.length >= count) break;
  }
  return out;
}

function sumInDouble(probabilities: Map<Token, number>): number {
  let sum = 0;
  for (const p of probabilities.values()) sum += p;
  return sum;
}

// ---------------------------------------------------------------------------------------------
// Next-token log-probabilities

export interface NextTokenLogprobsOptions extends ReferenceEvalOptions {
  /** Positions t to read (any order, no repeats, in [0, ids.length − 1]); default every t < ids.length − 1. */
  positions?: readonly number[];
  /** Recover any target probability below this by a logit-biased re-run (default 1e-30; 2 = every position). */
  recoverBelow?: number;
  /** Called after each position's distribution has been read from the main pass. */
  onPosition?: (done: number, total: number) => void;
}

export interface NextTokenLogprob {
  /** t: the distribution read is p(· | ids[0..t]). */
  position: number;
  /** ids[t+1], or null at the last position (then `logprob` is NaN). */
  target: number | null;
  /** ln p(ids[t+1] | ids[0..t]) in nats, renormalized in double (exact; see the file header). NaN if skipped. */
  logprob: number;
  /** The token llama.cpp's greedy sampler picks (argmax of the logits, lowest id on ties). */
  argmax: number;
  /** ln p(argmax), renormalized like `logprob`. */
  argmaxLogprob: number;
  /** True when `logprob` came from the logit-biased re-run (the target underflowed float32). */
  recovered: boolean;
}

export interface NextTokenLogprobs {
  items: NextTokenLogprob[];
  vocabSize: number;
  /** Positions whose target could not be recovered (EOG targets only); their logprob is NaN. */
  skipped: number[];
  /** Largest |Σ P − 1| of node-llama-cpp's float32 softmax seen (what renormalization removed). */
  maxSumError: number;
}

/** What the main pass keeps per position (never the map itself: 262k entries each). */
interface PositionRead {
  argmax: number;
  argmaxP: number;
  targetP: number;
  sum: number;
  /** The two most likely non-target tokens, to check a recovery re-run against. */
  top: [number, number][];
}

function readDistribution(output: ControlledEvaluateIndexOutput, target: number | null, vocabSize: number): PositionRead {
  const probabilities = output.next.probabilities;
  const token = output.next.token;
  if (probabilities === undefined || token === undefined || token === null) throw new Error("node-llama-cpp returned no distribution/token");
  if (probabilities.size !== vocabSize) {
    throw new Error(`the distribution has ${probabilities.size} entries, not the vocab's ${vocabSize}: a sampler truncated it`);
  }
  const argmaxP = probabilities.get(token);
  const first = probabilities.values().next().value;
  if (argmaxP === undefined || first === undefined || argmaxP !== first) {
    throw new Error(`the greedy token ${token} (p ${argmaxP}) is not the most likely entry (p ${first})`);
  }
  const targetP = target === null ? Number.NaN : probabilities.get(target as Token);
  if (targetP === undefined) throw new Error(`token ${target} is missing from the distribution`);
  return { argmax: token, argmaxP, targetP, sum: sumInDouble(probabilities), top: topEntries(probabilities, 2, target ?? -1) };
}

const DEFAULT_RECOVER_BELOW = 1e-30;

/** One input item: a distribution (optionally with a logit bias), only the greedy token (a logits row), or no output. */
function inputItem(model: LlamaModel, id: number, kind: "distribution" | "token" | "none", bias?: { token: number; logit: number }): ControlledEvaluateInputItem {
  if (kind === "none") return id as Token;
  if (kind === "token") return [id as Token, { generateNext: { token: true } }];
  const options = bias === undefined ? undefined : { tokenBias: new TokenBias(model.tokenizer).set(bias.token as Token, { logit: bias.logit }) };
  return [id as Token, { generateNext: { probabilities: true, token: true, ...(options === undefined ? {} : { options }) } }];
}

/**
 * Evaluates `ids` from position 0 on an empty `sequence`, reads the distributions at the sorted
 * `positions` (every position in `outputs` gets a logits row: llama.cpp's output matrix product
 * runs over exactly those rows, as llama-perplexity's do), then recovers underflowed targets.
 */
async function scoreSequence(
  model: LlamaModel,
  sequence: LlamaContextSequence,
  ids: readonly number[],
  positions: readonly number[],
  outputs: ReadonlySet<number>,
  vocabSize: number,
  recoverBelow: number,
  onPosition?: (done: number, total: number) => void,
): Promise<NextTokenLogprobs> {
  assertSequenceHolds(sequence, [], "before evaluation");
  const wanted = new Set(positions);
  const reads = new Map<number, PositionRead>();
  let failure: unknown;
  const items = ids.map((id, t) => inputItem(model, id, wanted.has(t) ? "distribution" : outputs.has(t) ? "token" : "none"));
  await sequence.controlledEvaluate(items, {
    onTokenResult(t, output) {
      try {
        if (wanted.has(t)) {
          reads.set(t, readDistribution(output, t + 1 < ids.length ? (ids[t + 1] as number) : null, vocabSize));
          onPosition?.(reads.size, positions.length);
        }
      } catch (error) {
        failure ??= error;
      } finally {
        // node-llama-cpp keeps every output until controlledEvaluate returns: free the map now.
        output.next.probabilities = undefined;
      }
    },
  });
  if (failure !== undefined) throw failure;
  assertSequenceHolds(sequence, ids, "after evaluation");

  const underflowed = positions.filter((t) => t + 1 < ids.length && !((reads.get(t)?.targetP ?? 0) >= recoverBelow));
  const recovered = underflowed.length > 0 ? await recoverTargets(model, sequence, ids, outputs, reads, underflowed, vocabSize) : new Map<number, number>();

  const items_: NextTokenLogprob[] = [];
  const skipped: number[] = [];
  let maxSumError = 0;
  for (const t of positions) {
    const read = reads.get(t);
    if (read === undefined) throw new Error(`no distribution was returned for position ${t}`);
    maxSumError = Math.max(maxSumError, Math.abs(read.sum - 1));
    const target = t + 1 < ids.length ? (ids[t + 1] as number) : null;
    const logSum = Math.log(read.sum);
    let logprob = target === null ? Number.NaN : Math.log(read.targetP) - logSum;
    const isRecovered = recovered.has(t);
    if (isRecovered) logprob = recovered.get(t) as number;
    else if (underflowed.includes(t)) {
      skipped.push(t);
      logprob = Number.NaN;
    }
    items_.push({ position: t, target, logprob, argmax: read.argmax, argmaxLogprob: Math.log(read.argmaxP) - logSum, recovered: isRecovered });
  }
  return { items: items_, vocabSize, skipped, maxSumError };
}

/**
 * Recovers underflowed targets (see the file header): re-evaluates the whole sequence with the
 * same output rows — llama.cpp's numbers depend on the batch (a 1-token re-decode on a cached
 * prefix moved ln p by 1e-6 on stories260K and, with flash attention, a shorter batch by 0.1 on
 * SmolLM2), so anything but an identical pass would not be exact — with a logit bias on each
 * target, and undoes the bias. Positions that stay unrepresentable are retried with a new bias.
 * EOG targets are left out (TokenBias ignores them). Returns ln p per recovered position.
 */
async function recoverTargets(
  model: LlamaModel,
  sequence: LlamaContextSequence,
  ids: readonly number[],
  outputs: ReadonlySet<number>,
  reads: ReadonlyMap<number, PositionRead>,
  underflowed: readonly number[],
  vocabSize: number,
): Promise<Map<number, number>> {
  const result = new Map<number, number>();
  const bias = new Map<number, number>();
  for (const t of underflowed) {
    const read = reads.get(t) as PositionRead;
    if (model.isEogToken(ids[t + 1] as Token)) continue;
    // Aim the biased target at the top of the distribution: b ≈ ln p(argmax) − ln p(target).
    bias.set(t, read.targetP > 0 ? Math.log(read.argmaxP) - Math.log(read.targetP) : 100);
  }
  for (let round = 0; round < 16 && bias.size > 0; round++) {
    const logits = new Map([...bias].map(([t, b]) => [t, Math.fround(b)])); // passed to llama.cpp as float32
    const found = new Map<number, { targetP: number; rest: number; max: number; check: [number, number][]; argmax: number | undefined }>();
    const greedy = new Map<number, number>();
    let failure: unknown;
    const items = ids.map((id, t) => {
      const b = logits.get(t);
      if (b !== undefined) return inputItem(model, id, "distribution", { token: ids[t + 1] as number, logit: b });
      return inputItem(model, id, outputs.has(t) ? "token" : "none");
    });
    await sequence.clearHistory();
    await sequence.controlledEvaluate(items, {
      onTokenResult(t, output) {
        try {
          if (!logits.has(t)) {
            if (typeof output.next.token === "number") greedy.set(t, output.next.token);
            return;
          }
          const probabilities = output.next.probabilities;
          if (probabilities === undefined || probabilities.size !== vocabSize) throw new Error(`recovery at ${t}: no full distribution`);
          const target = ids[t + 1] as number;
          let rest = 0;
          for (const [token, p] of probabilities) if (token !== target) rest += p;
          const main = reads.get(t) as PositionRead;
          const check = main.top.map(([token]): [number, number] => [token, probabilities.get(token as Token) ?? Number.NaN]);
          const max = probabilities.values().next().value ?? Number.NaN;
          found.set(t, { targetP: probabilities.get(target as Token) ?? Number.NaN, rest, max, check, argmax: undefined });
        } catch (error) {
          failure ??= error;
        } finally {
          output.next.probabilities = undefined;
        }
      },
    });
    if (failure !== undefined) throw failure;
    assertSequenceHolds(sequence, ids, "after a recovery pass");
    // The re-run must reproduce the main pass: the same greedy tokens, and non-target tokens
    // keep their probability ratios under the bias.
    for (const [t, token] of greedy) {
      const main = reads.get(t);
      if (main !== undefined && main.argmax !== token) throw new Error(`recovery pass: greedy token at ${t} is ${token}, the main pass had ${main.argmax}`);
    }
    for (const [t, b] of logits) {
      const got = found.get(t);
      if (got === undefined) throw new Error(`recovery at ${t}: no output`);
      const [a, c] = (reads.get(t) as PositionRead).top;
      const [a2, c2] = got.check;
      if (a !== undefined && c !== undefined && a2 !== undefined && c2 !== undefined && c[1] > 1e-30 && a2[1] > 1e-30 && c2[1] > 1e-30) {
        const drift = Math.abs(Math.log(c2[1] / a2[1]) - Math.log(c[1] / a[1]));
        if (!(drift <= 1e-6)) throw new Error(`recovery at ${t}: the re-run disagrees with the main pass (ratio drift ${drift})`);
      }
      if (got.targetP >= DEFAULT_RECOVER_BELOW && got.rest >= 1e-6) {
        // p'_t / R = e^b · p_t / (1 − p_t)  ⇒  ln p_t = ln p'_t − b − ln R − ln(1 + p'_t e^(−b) / R)
        const odds = (got.targetP * Math.exp(-b)) / got.rest;
        result.set(t, Math.log(got.targetP) - b - Math.log(got.rest) - Math.log1p(odds));
        bias.delete(t);
      } else if (got.rest < 1e-6) bias.set(t, b - 40); // overshot: the other tokens vanished
      else if (got.targetP > 0) bias.set(t, b + Math.log(got.max) - Math.log(got.targetP));
      else bias.set(t, b + 80); // still 0 in float32: more than ~87 nats below the top
    }
  }
  if (bias.size > 0) throw new Error(`recovery: no bias made the target representable at positions ${[...bias.keys()].join(", ")}`);
  return result;
}

/**
 * ln p(ids[t+1] | ids[0..t]) and the argmax with its ln p, at each requested position of `ids`
 * evaluated from position 0 (pass BOS yourself where the vocab adds it). Exact to ~1e-7 nats
 * against llama.cpp's logits (float32 softmax renormalized in double); see the file header.
 */
export async function referenceNextTokenLogprobs(model: LlamaModel, ids: readonly number[], options: NextTokenLogprobsOptions): Promise<NextTokenLogprobs> {
  const vocabSize = referenceVocabSize(model);
  checkIds(ids, vocabSize, "referenceNextTokenLogprobs");
  const positions = checkPositions(options.positions ?? Array.from({ length: ids.length - 1 }, (_, t) => t), ids.length, "referenceNextTokenLogprobs");
  return withSequence(model, ids.length, options, (sequence) =>
    scoreSequence(model, sequence, ids, positions, new Set(positions), vocabSize, options.recoverBelow ?? DEFAULT_RECOVER_BELOW, options.onPosition),
  );
}

/**
 * The greedy (argmax) next token at each requested position, without distributions: exact, and
 * the fast path for greedy-agreement checks. Default positions: all of [0, ids.length − 1].
 */
export async function referenceGreedyArgmax(
  model: LlamaModel,
  ids: readonly number[],
  options: ReferenceEvalOptions & { positions?: readonly number[] },
): Promise<number[]> {
  const vocabSize = referenceVocabSize(model);
  checkIds(ids, vocabSize, "referenceGreedyArgmax");
  const positions = checkPositions(options.positions ?? ids.map((_, t) => t), ids.length, "referenceGreedyArgmax");
  const wanted = new Set(positions);
  return withSequence(model, ids.length, options, async (sequence) => {
    const argmax = new Map<number, number>();
    const items: ControlledEvaluateInputItem[] = ids.map((id, t) => (wanted.has(t) ? [id as Token, { generateNext: { token: true } }] : (id as Token)));
    await sequence.controlledEvaluate(items, {
      onTokenResult(t, output) {
        if (typeof output.next.token === "number") argmax.set(t, output.next.token);
      },
    });
    assertSequenceHolds(sequence, ids, "referenceGreedyArgmax");
    return positions.map((t) => {
      const token = argmax.get(t);
      if (token === undefined) throw new Error(`no greedy token at position ${t}`);
      return token;
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Perplexity, as llama-perplexity computes it

export interface PerplexityTokens {
  /** The whole text's tokens as llama-perplexity has them: BOS first when the vocab adds BOS. */
  ids: number[];
  addBos: boolean;
  bos: number | null;
  /** Whether one trailing "\n" was dropped before tokenizing. */
  droppedTrailingNewline: boolean;
}

/** llama-perplexity's tokenization of its input file (see the file header). */
export function perplexityTokenize(model: LlamaModel, text: string): PerplexityTokens {
  if (model.tokens.shouldAppendEosToken) throw new Error("llama-perplexity refuses vocabs that add EOS (GGML_ASSERT(!add_eos))");
  const droppedTrailingNewline = text.endsWith("\n");
  const body = droppedTrailingNewline ? text.slice(0, -1) : text;
  const addBos = model.tokens.shouldPrependBosToken;
  const bos = model.tokens.bos;
  if (addBos && bos === null) throw new Error("the vocab adds BOS but has no BOS token");
  const ids: number[] = addBos ? [bos as number] : [];
  for (const id of model.tokenize(body, false)) ids.push(id);
  return { ids, addBos, bos: addBos ? (bos as number) : null, droppedTrailingNewline };
}

export interface PerplexityPlan {
  ctx: number;
  nChunk: number;
  /** First and last scored position in a chunk: ⌊ctx/2⌋ and ctx − 2. */
  firstScored: number;
  lastScored: number;
  countPerChunk: number;
  tokensUsed: number;
}

/** llama-perplexity's chunking for `tokenCount` tokens (BOS included). */
export function perplexityPlan(tokenCount: number, ctx: number, chunks?: number): PerplexityPlan {
  if (!Number.isInteger(ctx) || ctx < 4) throw new Error(`ctx must be an integer ≥ 4, got ${ctx}`);
  if (chunks !== undefined && (!Number.isInteger(chunks) || chunks < 1)) throw new Error(`chunks must be a positive integer, got ${chunks}`);
  if (tokenCount < 2 * ctx) throw new Error(`llama-perplexity needs at least 2·ctx = ${2 * ctx} tokens; the text has ${tokenCount}`);
  const maxChunks = Math.floor(tokenCount / ctx);
  const nChunk = chunks === undefined ? maxChunks : Math.min(chunks, maxChunks);
  const firstScored = Math.floor(ctx / 2);
  return { ctx, nChunk, firstScored, lastScored: ctx - 2, countPerChunk: ctx - 1 - firstScored, tokensUsed: nChunk * ctx };
}

/** The tokens evaluated for chunk `index`: its slice with the first token overwritten by BOS when the vocab adds BOS. */
export function perplexityChunkIds(tokens: PerplexityTokens, plan: PerplexityPlan, index: number): number[] {
  if (!Number.isInteger(index) || index < 0 || index >= plan.nChunk) throw new Error(`chunk ${index} is outside [0, ${plan.nChunk - 1}]`);
  const chunk = tokens.ids.slice(index * plan.ctx, (index + 1) * plan.ctx);
  if (tokens.addBos) chunk[0] = tokens.bos as number;
  return chunk;
}

export interface PerplexityChunk {
  index: number;
  /** Σ −ln p over the chunk's scored positions, in position order. */
  nll: number;
  count: number;
  /** Scored positions whose target was recovered from a float32 underflow. */
  recovered: number;
  /** Largest |Σ P − 1| of node-llama-cpp's float32 softmax in the chunk (removed by renormalizing). */
  maxSumError: number;
}

/** Scores the given chunks (in the given order) in one context; throws if any target cannot be scored. */
export async function referencePerplexityChunks(
  model: LlamaModel,
  tokens: PerplexityTokens,
  plan: PerplexityPlan,
  chunkIndices: readonly number[],
  options: ReferenceEvalOptions & { recoverBelow?: number; onChunk?: (chunk: PerplexityChunk) => void },
): Promise<PerplexityChunk[]> {
  const vocabSize = referenceVocabSize(model);
  checkIds(tokens.ids.slice(0, plan.tokensUsed), vocabSize, "referencePerplexity");
  const positions = Array.from({ length: plan.countPerChunk }, (_, k) => plan.firstScored + k);
  // llama-perplexity requests logits from position ⌊ctx/2⌋ to the chunk's end (the last row unused).
  const outputs = new Set(Array.from({ length: plan.ctx - plan.firstScored }, (_, k) => plan.firstScored + k));
  return withSequence(model, plan.ctx, options, async (sequence) => {
    const out: PerplexityChunk[] = [];
    for (const index of chunkIndices) {
      const ids = perplexityChunkIds(tokens, plan, index);
      await sequence.clearHistory();
      const scored = await scoreSequence(model, sequence, ids, positions, outputs, vocabSize, options.recoverBelow ?? DEFAULT_RECOVER_BELOW);
      if (scored.skipped.length > 0) throw new Error(`chunk ${index}: positions ${scored.skipped.join(", ")} could not be scored (EOG targets)`);
      let nll = 0;
      for (const item of scored.items) nll -= item.logprob;
      const chunk: PerplexityChunk = {
        index,
        nll,
        count: scored.items.length,
        recovered: scored.items.filter((item) => item.recovered).length,
        maxSumError: scored.maxSumError,
      };
      if (chunk.count !== plan.countPerChunk) throw new Error(`chunk ${index}: scored ${chunk.count} positions, expected ${plan.countPerChunk}`);
      out.push(chunk);
      options.onChunk?.(chunk);
    }
    return out;
  });
}

/** ΣNLL (chunk sums added in chunk order), count and PPL = exp(ΣNLL / count). */
export function aggregatePerplexity(chunks: readonly PerplexityChunk[]): { perplexity: number; nll: number; count: number } {
  const ordered = [...chunks].sort((a, b) => a.index - b.index);
  let nll = 0;
  let count = 0;
  for (const chunk of ordered) {
    nll += chunk.nll;
    count += chunk.count;
  }
  return { perplexity: Math.exp(nll / count), nll, count };
}

export interface ReferencePerplexityOptions extends ReferenceEvalOptions {
  /** Default 512 (llama-perplexity's default). */
  ctx?: number;
  /** Cap on the number of chunks (llama-perplexity --chunks); default all. */
  chunks?: number;
  recoverBelow?: number;
  onChunk?: (chunk: PerplexityChunk) => void;
}

export interface ReferencePerplexity extends PerplexityPlan {
  perplexity: number;
  /** Σ −ln p over all scored positions. */
  nll: number;
  count: number;
  perChunk: PerplexityChunk[];
  addBos: boolean;
  droppedTrailingNewline: boolean;
  /** Tokens of the whole text (BOS included); `tokensUsed` = nChunk·ctx of them are evaluated. */
  tokenCount: number;
  /** The whole tokenization (BOS first where added), before the per-chunk BOS overwrite. */
  ids: number[];
}

/** What llama-perplexity prints for `text` with this model (see the file header for every rule). */
export async function referencePerplexity(modelOrPath: LlamaModel | string, text: string, options: ReferencePerplexityOptions): Promise<ReferencePerplexity> {
  const model = typeof modelOrPath === "string" ? await loadReferenceModel(modelOrPath) : modelOrPath;
  try {
    const tokens = perplexityTokenize(model, text);
    const plan = perplexityPlan(tokens.ids.length, options.ctx ?? 512, options.chunks);
    const indices = Array.from({ length: plan.nChunk }, (_, i) => i);
    const perChunk = await referencePerplexityChunks(model, tokens, plan, indices, options);
    return {
      ...plan,
      ...aggregatePerplexity(perChunk),
      perChunk,
      addBos: tokens.addBos,
      droppedTrailingNewline: tokens.droppedTrailingNewline,
      tokenCount: tokens.ids.length,
      ids: tokens.ids,
    };
  } finally {
    if (typeof modelOrPath === "string") await model.dispose();
  }
}

/** A model's vocabulary only (no weights): enough for llama.cpp's tokenize/detokenize. */
export async function loadReferenceVocab(path: string): Promise<LlamaModel> {
  const llama = await referenceLlama();
  return llama.loadModel({ modelPath: path, vocabOnly: true });
}
