/**
 * Perplexity as llama-perplexity reports it (facts §4): the chunks of
 * src/data/perplexity-chunks.ts scored by the engine, which returns each
 * chunk's summed NLL (log-softmax with a float max and a double sum);
 * PPL = exp(Σ NLL / count).
 */
import { perplexityChunks } from "../data/perplexity-chunks.js";
import type { EngineProgress, RunOptions } from "../model.js";

export interface PerplexityOptions extends RunOptions {
  /** Tokens per chunk (default 512, llama-perplexity's default). */
  ctx?: number;
  /** Most chunks to score (default: all the text gives). */
  chunks?: number;
}

export interface PerplexityResult {
  readonly perplexity: number;
  /** Mean NLL per scored token (nats). */
  readonly meanNll: number;
  readonly ctx: number;
  readonly chunks: number;
  readonly tokensScored: number;
  /** Tokens the text gave (BOS included). */
  readonly textTokens: number;
  /** Per chunk: the running perplexity after it, as llama-perplexity prints it. */
  readonly runningPerplexity: readonly number[];
  readonly skip: readonly number[];
  readonly seconds: number;
}

/** The engine call perplexityOfTokens needs (Model.perplexity provides it). */
export type ChunkScorer = (
  ids: Int32Array,
  ctx: number,
  first: number,
  options: RunOptions,
  totalChunks: number,
) => Promise<Float64Array>;

export async function perplexityOfTokens(
  tokens: ArrayLike<number>,
  bos: number | null,
  options: PerplexityOptions,
  score: ChunkScorer,
): Promise<PerplexityResult> {
  const started = performance.now();
  const ctx = options.ctx ?? 512;
  const chunks = perplexityChunks(tokens, { ctx, ...(options.chunks !== undefined ? { maxChunks: options.chunks } : {}), bos });
  const onProgress = options.onProgress;
  const perChunk = await score(chunks.ids, chunks.ctx, chunks.first, {
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.skip ? { skip: options.skip } : {}),
    ...(onProgress ? { onProgress: (p: EngineProgress) => onProgress(p) } : {}),
  }, chunks.chunks);
  // Accumulate in chunk order, as llama-perplexity does.
  let nll = 0;
  let count = 0;
  const running: number[] = [];
  for (let c = 0; c < chunks.chunks; c++) {
    nll += perChunk[2 * c]!;
    count += perChunk[2 * c + 1]!;
    running.push(Math.exp(nll / count));
  }
  const meanNll = nll / count;
  return {
    perplexity: Math.exp(meanNll),
    meanNll,
    ctx: chunks.ctx,
    chunks: chunks.chunks,
    tokensScored: count,
    textTokens: tokens.length,
    runningPerplexity: running,
    skip: [...new Set(options.skip ?? [])].sort((a, b) => a - b),
    seconds: (performance.now() - started) / 1000,
  };
}
