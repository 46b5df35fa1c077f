/**
 * Choosing which blocks to remove, under an architecture's layer-index rules.
 *
 * For a model whose blocks depend on their index with period P, a removal set
 * keeps the model correct when every run of removed blocks is a multiple of P
 * long, or reaches the last removable block (src/arch/layer-rules.ts). Such a
 * set is a union of non-overlapping windows of P consecutive blocks (adjacent
 * windows merge into longer valid runs) plus, optionally, a tail run of any
 * length. The cheapest valid set of exactly n blocks is found by dynamic
 * programming over that structure: O(blocks × n).
 */
import { keepsPattern, type LayerRules } from "../arch/layer-rules.js";
import { ShortgptError } from "../errors.js";

/** The constraints the selection needs from LayerRules. */
export interface SelectionRules {
  /** Blocks [0, removableBlocks) may be removed (MTP blocks after them never). */
  readonly removableBlocks: number;
  /** Index period (1 when blocks do not depend on their index). */
  readonly period: number;
  /** The last removable block must stay. */
  readonly lastBlockFixed: boolean;
}

export function selectionRules(rules: LayerRules): SelectionRules {
  return {
    removableBlocks: rules.removableBlocks,
    period: rules.pattern?.period ?? 1,
    lastBlockFixed: rules.lastBlockFixed !== undefined,
  };
}

/** True when `set` (sorted, unique) is removable under `rules`. */
export function isValidSelection(set: readonly number[], rules: SelectionRules): boolean {
  if (set.length === 0 || set.length >= rules.removableBlocks) return false;
  if (set.some((i) => !Number.isInteger(i) || i < 0 || i >= rules.removableBlocks)) return false;
  if (rules.lastBlockFixed && set.includes(rules.removableBlocks - 1)) return false;
  return keepsPattern(set, rules.period, rules.removableBlocks);
}

/**
 * The valid set of exactly `n` blocks with the lowest total `cost`
 * (cost[i] for block i; lower = more removable). Ties go to later blocks
 * (deep blocks are the usual redundant ones), deterministically.
 */
export function cheapestValidSet(cost: readonly number[], n: number, rules: SelectionRules): number[] {
  const R = rules.removableBlocks;
  const P = Math.max(1, rules.period);
  if (cost.length < R) throw new ShortgptError("ERR_INVALID_ARG", `need a cost for each of the ${R} removable blocks, got ${cost.length}`);
  if (!Number.isInteger(n) || n < 1 || n >= R) {
    throw new ShortgptError("ERR_PRUNE_COUNT", `cannot remove ${n} of ${R} removable blocks: choose 1 to ${R - 1}`);
  }
  const c = cost.slice(0, R).map((v) => (Number.isFinite(v) ? v : Number.POSITIVE_INFINITY));
  const prefix = [0];
  for (let i = 0; i < R; i++) prefix.push(prefix[i]! + c[i]!);
  const windowCost = (start: number, length: number) => prefix[start + length]! - prefix[start]!;

  // best[i][k]: cheapest way to remove k blocks among [0, i) using P-windows only
  // (a window may end exactly at i). choice[i][k] = true when block i-1 ends a window.
  // With lastBlockFixed, windows may not cover block R-1; a tail may not either.
  const limit = rules.lastBlockFixed ? R - 1 : R;
  const INF = Number.POSITIVE_INFINITY;
  const best: Float64Array[] = [];
  const choice: Uint8Array[] = [];
  for (let i = 0; i <= R; i++) {
    best.push(new Float64Array(n + 1).fill(INF));
    choice.push(new Uint8Array(n + 1));
  }
  best[0]![0] = 0;
  for (let i = 1; i <= R; i++) {
    for (let k = 0; k <= n; k++) {
      let b = best[i - 1]![k]!; // block i-1 kept
      let ch = 0;
      if (i <= limit && i >= P && k >= P) {
        const w = best[i - P]![k - P]! + windowCost(i - P, P);
        // '<=' prefers removing later blocks on ties.
        if (w <= b) {
          b = w;
          ch = 1;
        }
      }
      best[i]![k] = b;
      choice[i]![k] = ch;
    }
  }

  // Either windows only (no tail), or windows in [0, j) plus the tail [j, R).
  let bestCost = best[R]![n]!;
  let tailStart = R;
  if (!rules.lastBlockFixed) {
    for (let j = R - 1; j >= R - n; j--) {
      const tail = R - j;
      const total = best[j]![n - tail]! + windowCost(j, tail);
      if (total < bestCost) {
        bestCost = total;
        tailStart = j;
      }
    }
  }
  if (!Number.isFinite(bestCost)) {
    throw new ShortgptError("ERR_PRUNE_COUNT", `no valid set of ${n} blocks exists under the layer-index rules (period ${P})`);
  }
  const set: number[] = [];
  for (let i = tailStart; i < R; i++) set.push(i);
  let i = tailStart;
  let k = n - (R - tailStart);
  while (i > 0 && k > 0) {
    if (choice[i]![k]) {
      for (let b = i - P; b < i; b++) set.push(b);
      i -= P;
      k -= P;
    } else {
      i -= 1;
    }
  }
  return set.sort((a, b) => a - b);
}

/**
 * The contiguous run of `n` blocks with the lowest cost at its start
 * (startCost[i] scores the run [i, i+n)), among runs valid under the rules:
 * a run must be a multiple of the period long unless it reaches the last
 * removable block.
 */
export function cheapestValidRun(startCost: readonly number[], n: number, rules: SelectionRules): number[] {
  const R = rules.removableBlocks;
  if (!Number.isInteger(n) || n < 1 || n >= R) {
    throw new ShortgptError("ERR_PRUNE_COUNT", `cannot remove ${n} of ${R} removable blocks: choose 1 to ${R - 1}`);
  }
  let bestStart = -1;
  let bestValue = Number.POSITIVE_INFINITY;
  for (let start = 0; start + n <= R; start++) {
    const run = Array.from({ length: n }, (_, k) => start + k);
    if (!isValidSelection(run, rules)) continue;
    const v = startCost[start];
    if (v === undefined || !Number.isFinite(v)) continue;
    if (v <= bestValue) {
      bestValue = v;
      bestStart = start;
    }
  }
  if (bestStart < 0) throw new ShortgptError("ERR_PRUNE_COUNT", `no valid contiguous run of ${n} blocks under the layer-index rules (period ${rules.period})`);
  return Array.from({ length: n }, (_, k) => bestStart + k);
}
