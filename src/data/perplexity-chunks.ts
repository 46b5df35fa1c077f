/**
 * llama-perplexity's chunking (tools/perplexity/perplexity.cpp, facts §4):
 * the text is tokenized once with add_special (BOS where the vocabulary adds
 * it), cut into ⌊tokens/ctx⌋ chunks of ctx tokens (optionally capped), each
 * chunk an independent sequence from position 0 whose first token is
 * overwritten by BOS (not inserted), and only positions ctx/2 … ctx−2 are
 * scored, each against the token after it.
 */
import { ShortgptError } from "../errors.js";

export interface PerplexityChunkOptions {
  /** Tokens per chunk (llama-perplexity -c; default 512). */
  ctx: number;
  /** Most chunks to use (--chunks); all when undefined. */
  maxChunks?: number;
  /** BOS id when the vocabulary adds BOS (add_bos), else null: the first token is then left as it is. */
  bos: number | null;
}

export interface PerplexityChunks {
  /** chunks × ctx ids, row-major, BOS already written over each chunk's first token. */
  readonly ids: Int32Array;
  readonly chunks: number;
  readonly ctx: number;
  /** First scored position (ctx/2); positions first … ctx−2 are scored. */
  readonly first: number;
  /** Positions scored per chunk: ctx − 1 − first. */
  readonly scoredPerChunk: number;
}

export function perplexityChunks(tokens: ArrayLike<number>, options: PerplexityChunkOptions): PerplexityChunks {
  const { ctx, maxChunks, bos } = options;
  if (!Number.isInteger(ctx) || ctx < 4) throw new ShortgptError("ERR_INVALID_ARG", `ctx must be an integer ≥ 4, got ${ctx}`);
  if (maxChunks !== undefined && (!Number.isInteger(maxChunks) || maxChunks < 1)) {
    throw new ShortgptError("ERR_INVALID_ARG", `chunks must be a positive integer, got ${maxChunks}`);
  }
  // llama-perplexity refuses fewer than 2·ctx tokens.
  if (tokens.length < 2 * ctx) {
    throw new ShortgptError(
      "ERR_TEXT_TOO_SHORT",
      `perplexity needs at least 2 × ctx = ${2 * ctx} tokens; the text gives ${tokens.length} (use more text or a smaller ctx)`,
    );
  }
  const available = Math.floor(tokens.length / ctx);
  const chunks = maxChunks === undefined ? available : Math.min(maxChunks, available);
  const ids = new Int32Array(chunks * ctx);
  for (let c = 0; c < chunks; c++) {
    for (let j = 0; j < ctx; j++) ids[c * ctx + j] = tokens[c * ctx + j]!;
    if (bos !== null) ids[c * ctx] = bos;
  }
  const first = Math.floor(ctx / 2);
  return { ids, chunks, ctx, first, scoredPerChunk: ctx - 1 - first };
}
