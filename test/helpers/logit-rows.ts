/**
 * Small helpers the engine tests share: reading one vocabulary row of logits
 * the way llama.cpp does, and the error code a rejected call carries.
 */
import { errorCode } from "../../src/errors.js";

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

/** The `code` a promise rejects with, or undefined when it resolves. */
export async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return errorCode(error);
  }
}
