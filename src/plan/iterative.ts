/**
 * Iterative removal: remove one unit, re-score the remaining model with a
 * skip mask, choose the next unit from the new scores. A unit is one block
 * for index-independent architectures; for a period-P model it is P
 * consecutive remaining blocks (whatever lies between them was removed in
 * multiples of P already, so the union stays valid), or the last remaining
 * block when the removed set already reaches the end.
 */
import { ShortgptError } from "../errors.js";
import { isValidSelection, type SelectionRules } from "./select.js";

/** Scores (lower = more removable) for every original block, given the blocks skipped so far. */
export type Rescore = (skipped: readonly number[]) => Promise<readonly number[]>;

export interface IterativeStep {
  readonly removed: readonly number[];
  /** Mean score of the removed unit when it was chosen. */
  readonly score: number;
}

export async function iterativeSelection(
  rescore: Rescore,
  n: number,
  rules: SelectionRules,
  onStep?: (step: IterativeStep, done: number) => void,
): Promise<{ removed: number[]; steps: IterativeStep[] }> {
  const R = rules.removableBlocks;
  const P = Math.max(1, rules.period);
  if (!Number.isInteger(n) || n < 1 || n >= R) {
    throw new ShortgptError("ERR_PRUNE_COUNT", `cannot remove ${n} of ${R} removable blocks: choose 1 to ${R - 1}`);
  }
  const removed = new Set<number>();
  const steps: IterativeStep[] = [];
  while (removed.size < n) {
    const scores = await rescore([...removed].sort((a, b) => a - b));
    const kept = Array.from({ length: R }, (_, i) => i).filter((i) => !removed.has(i));
    const left = n - removed.size;
    const units: number[][] = [];
    if (P <= left) {
      for (let j = 0; j + P <= kept.length; j++) units.push(kept.slice(j, j + P));
    }
    // Growing a run that ends at the last removable block is valid at any length.
    if (!rules.lastBlockFixed) {
      for (let len = 1; len <= Math.min(left, P - 1); len++) units.push(kept.slice(kept.length - len));
    }
    let best: { unit: number[]; mean: number } | undefined;
    for (const unit of units) {
      const candidate = [...removed, ...unit].sort((a, b) => a - b);
      if (!isValidSelection(candidate, rules)) continue;
      const mean = unit.reduce((a, i) => a + (scores[i] ?? Number.POSITIVE_INFINITY), 0) / unit.length;
      if (!best || mean < best.mean || (mean === best.mean && unit[0]! > best.unit[0]!)) best = { unit, mean };
    }
    if (!best) throw new ShortgptError("ERR_PRUNE_COUNT", `no valid next block after removing ${[...removed].join(",")} (period ${P})`);
    for (const i of best.unit) removed.add(i);
    const step = { removed: best.unit, score: best.mean };
    steps.push(step);
    onStep?.(step, removed.size);
  }
  return { removed: [...removed].sort((a, b) => a - b), steps };
}
