/**
 * Small helpers the engine tests share: reading one vocabulary row of logits
 * the way llama.cpp does, and the error code a rejected call carries.
 */
import { errorCode } from "../../src/errors.js";
import type { NextTokenLogprob } from "./llama-reference.js";

/** ln softmax(row)[token], max in float and sum in double like llama.cpp. */
export function logSoftmaxAt(row: Float32Array, token: number): number {
  let max = row[0]!;
  for (let i = 1; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i]! - max);
  return row[token]! - max - Math.log(sum);
}

/** Index of the largest logit (the first on ties, as llama.cpp's greedy sampler). */
export function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

/**
 * Our logits (rows of `vocab`, one per position) against llama.cpp's reads of the same
 * positions: how many argmax tokens agree, and the largest |Δ ln p| of llama.cpp's argmax and
 * of the next token (a rarer token, whose ln p moves more under rounding).
 */
export function agreementWithReference(logits: Float32Array, vocab: number, items: readonly NextTokenLogprob[]): { agree: number; worstArgmax: number; worstTarget: number } {
  let agree = 0;
  let worstArgmax = 0;
  let worstTarget = 0;
  for (const item of items) {
    const row = logits.subarray(item.position * vocab, (item.position + 1) * vocab);
    if (argmax(row) === item.argmax) agree++;
    worstArgmax = Math.max(worstArgmax, Math.abs(logSoftmaxAt(row, item.argmax) - item.argmaxLogprob));
    if (item.target !== null) worstTarget = Math.max(worstTarget, Math.abs(logSoftmaxAt(row, item.target) - item.logprob));
  }
  return { agree, worstArgmax, worstTarget };
}

/** The `code` a promise rejects with, or undefined when it resolves. */
export async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return errorCode(error);
  }
}
