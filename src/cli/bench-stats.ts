/**
 * How repeated timings are summarized, and when a comparison built from them is too noisy to
 * trust: the one rule for `shortgpt bench` and the bench suites (scripts/bench/*.mjs).
 *
 * The sides of a comparison run interleaved: round r runs each side once, one after another, so
 * a change in the machine's load (the development machines are shared) hits every side of the
 * same round alike. Each round then gives one ratio of its own, and how much those per-round
 * ratios differ is a direct measure of how far the reported ratio can be trusted.
 *
 * The rule: a comparison is trusted when it has at least 2 rounds and its per-round ratios
 * differ by at most 25% (max / min ≤ 1.25). Beyond that the load changed within rounds by more
 * than the effects being measured (removing a fifth of a model's blocks buys 1.2-1.3×; engine
 * ratios of 1.1-2.5× are what the suites report), and the median ratio can be off by as much: on
 * a loaded 2-core machine single runs were seen 2-8× slower than their neighbours. An untrusted
 * comparison is still reported, with a warning saying why; rerun it on a quieter machine.
 */

/** Smallest, median and largest of a set of values. */
export interface Spread {
  readonly min: number;
  readonly median: number;
  readonly max: number;
}

/** Per-round ratios may differ by at most this factor (max / min) for a comparison to be trusted. */
export const MAX_TRUSTED_ROUND_SPREAD = 1.25;

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError("median of no values");
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function spreadOf(values: readonly number[]): Spread {
  if (values.length === 0) throw new RangeError("spread of no values");
  return { min: Math.min(...values), median: median(values), max: Math.max(...values) };
}

/** A ratio between two sides timed in interleaved rounds, and whether it can be trusted. */
export interface RatioComparison {
  /** median(baseline seconds) / median(other seconds): above 1, the other side is faster. */
  readonly ratio: number;
  /** The same ratio round by round (baseline[r] / other[r]). */
  readonly perRound: Spread;
  readonly rounds: number;
  /** Whether the rule above holds. */
  readonly trusted: boolean;
  /** Why it is not trusted, in words; null when it is. */
  readonly warning: string | null;
}

/**
 * Compares two sides' times (seconds, or any cost where less is better) measured in interleaved
 * rounds: `baseline[r]` and `other[r]` ran in the same round r. `label` names the comparison in
 * the warning ("shortgpt prefill, second vs first model").
 */
export function compareTimes(baseline: readonly number[], other: readonly number[], label: string): RatioComparison {
  if (baseline.length === 0 || baseline.length !== other.length) {
    throw new RangeError(`${label}: the two sides need the same number of rounds (got ${baseline.length} and ${other.length})`);
  }
  const perRound = spreadOf(baseline.map((b, r) => b / other[r]!));
  const ratio = median(baseline) / median(other);
  const rounds = baseline.length;
  let warning: string | null = null;
  if (!Number.isFinite(ratio) || !Number.isFinite(perRound.min) || !Number.isFinite(perRound.max) || perRound.min <= 0) {
    warning = `${label}: a run took no measurable time, so the ratio means nothing`;
  } else if (rounds < 2) {
    warning = `${label}: one round only, so how much the ratio moves is unknown (use 3 or more runs)`;
  } else if (perRound.max / perRound.min > MAX_TRUSTED_ROUND_SPREAD) {
    warning =
      `${label}: ${formatRatio(ratio)} is too noisy to trust: round by round it ranged ${formatRatio(perRound.min)}-${formatRatio(perRound.max)} ` +
      `(${(perRound.max / perRound.min).toFixed(2)}× apart, more than ${MAX_TRUSTED_ROUND_SPREAD}×); the machine's load changed during the runs, measure again when it is quieter`;
  }
  return { ratio, perRound, rounds, trusted: warning === null, warning };
}

/** "1.34×". */
export function formatRatio(ratio: number): string {
  return `${ratio.toFixed(2)}×`;
}

/** "1.34× (rounds 1.28-1.41×)", with " ⚠ noisy" appended when the comparison is not trusted. */
export function formatComparison(c: Pick<RatioComparison, "ratio" | "perRound" | "trusted">): string {
  const range = c.perRound.min !== c.perRound.max ? ` (rounds ${c.perRound.min.toFixed(2)}-${formatRatio(c.perRound.max)})` : "";
  return `${formatRatio(c.ratio)}${range}${c.trusted ? "" : " ⚠ noisy"}`;
}
