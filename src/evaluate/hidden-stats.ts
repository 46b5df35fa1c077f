/**
 * The raw hook sums of a scoring pass (DESIGN §1) and what they turn into.
 * Sums and counts rather than means, so passes over different batches (or
 * calls) combine by adding; the scoring code derives its metrics from them.
 *
 * x_i is the residual stream entering block i (x_0: the scaled token
 * embeddings), x_{i+1} the stream leaving it, before the final norm.
 */
import { ShortgptError } from "../errors.js";
import type { NativeHiddenStats } from "../engine.js";

export interface SpanSums {
  /** The span n: x_i is compared with x_{i+n}. */
  readonly span: number;
  /** Index i = start block, 0 … blocks − n. Σ over every row of cos(x_i, x_{i+n}). */
  readonly cosSum: Float64Array;
  /** Σ over every row of arccos(cos)/π (angular distance). */
  readonly angleSum: Float64Array;
  /** The same two over the last row of each window only (Gromov et al.). */
  readonly lastCosSum: Float64Array;
  readonly lastAngleSum: Float64Array;
}

export interface HiddenStats {
  readonly blocks: number;
  /** Rows (token positions) summed over. */
  readonly rows: number;
  /** Windows summed over (the count for the last-position sums). */
  readonly windows: number;
  /** Per block i: Σ cos(x_i, x_{i+1}). BI_i = 1 − cosSum[i] / rows. */
  readonly cosSum: Float64Array;
  /** Per block i: Σ ‖x_{i+1} − x_i‖ / ‖x_{i+1}‖ (relative magnitude ‖f(x)‖ / ‖x + f(x)‖). */
  readonly relMagnitudeSum: Float64Array;
  readonly spans: readonly SpanSums[];
}

export function hiddenStatsFromNative(raw: NativeHiddenStats, blocks: number): HiddenStats {
  const spans = raw.spans.map((span, k) => {
    const at = (a: Float64Array) => a.slice(k * blocks, k * blocks + blocks - span + 1);
    return {
      span,
      cosSum: at(raw.spanCosSum),
      angleSum: at(raw.spanAngleSum),
      lastCosSum: at(raw.lastCosSum),
      lastAngleSum: at(raw.lastAngleSum),
    };
  });
  return { blocks, rows: raw.rows, windows: raw.windows, cosSum: raw.cosSum, relMagnitudeSum: raw.relSum, spans };
}

function addArrays(a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! + b[i]!;
  return out;
}

/** Sums of two passes over the same model with the same spans. */
export function combineHiddenStats(a: HiddenStats, b: HiddenStats): HiddenStats {
  if (a.blocks !== b.blocks || a.spans.length !== b.spans.length || a.spans.some((s, i) => s.span !== b.spans[i]!.span)) {
    throw new ShortgptError("ERR_INVALID_ARG", "hidden stats to combine must come from the same model and spans");
  }
  return {
    blocks: a.blocks,
    rows: a.rows + b.rows,
    windows: a.windows + b.windows,
    cosSum: addArrays(a.cosSum, b.cosSum),
    relMagnitudeSum: addArrays(a.relMagnitudeSum, b.relMagnitudeSum),
    spans: a.spans.map((s, i) => {
      const t = b.spans[i]!;
      return {
        span: s.span,
        cosSum: addArrays(s.cosSum, t.cosSum),
        angleSum: addArrays(s.angleSum, t.angleSum),
        lastCosSum: addArrays(s.lastCosSum, t.lastCosSum),
        lastAngleSum: addArrays(s.lastAngleSum, t.lastAngleSum),
      };
    }),
  };
}

/** BI_i = 1 − mean cos(x_i, x_{i+1}) per block. */
export function blockInfluenceOf(stats: HiddenStats): number[] {
  return Array.from(stats.cosSum, (c) => 1 - c / stats.rows);
}

/** Mean relative magnitude ‖f(x)‖ / ‖x + f(x)‖ per block. */
export function relativeMagnitudeOf(stats: HiddenStats): number[] {
  return Array.from(stats.relMagnitudeSum, (r) => r / stats.rows);
}
