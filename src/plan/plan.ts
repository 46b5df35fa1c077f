/**
 * planRemoval: from per-block scores to the set of blocks to remove, with one
 * of three strategies, always under the architecture's layer-index rules
 * (unless forced).
 *
 *  - bi:        the paper: the n blocks with the lowest Block Influence.
 *  - block:     the contiguous run of n blocks whose input and output hidden
 *               states are closest (lowest angular distance; Gromov et al.).
 *  - iterative: remove one unit, re-score with a skip mask, repeat.
 */
import { layerRules, type LayerRules } from "../arch/layer-rules.js";
import type { GgufFile } from "../gguf/read.js";
import type { ScoreResult } from "../score/score.js";
import { ShortgptError } from "../errors.js";
import { iterativeSelection, type IterativeStep, type Rescore } from "./iterative.js";
import { cheapestValidRun, cheapestValidSet, selectionRules, type SelectionRules } from "./select.js";

export type Strategy = "bi" | "block" | "iterative";
export const STRATEGIES: readonly Strategy[] = ["bi", "block", "iterative"];

/** What planning needs from a scoring run (src/score produces it). */
export interface PlanningScores {
  readonly blockCount: number;
  /** Block Influence per block (lower = more removable). */
  readonly bi: readonly number[];
  /** Angular distance between x_i and x_{i+n}, by span n then start block i. */
  readonly angular: ReadonlyMap<number, readonly number[]>;
}

export interface PlanOptions {
  /** Number of blocks to remove. */
  remove?: number;
  /** Fraction of all blocks to remove (rounded to the nearest count). */
  ratio?: number;
  strategy?: Strategy;
  /** The model's layer-index rules: give `rules`, or the model's `file` to derive them. */
  rules?: LayerRules;
  file?: GgufFile;
  /** Ignore the layer-index pattern (the set may break the model). */
  force?: boolean;
  /** Needed by `iterative`: scores of the model with blocks skipped. */
  rescore?: Rescore;
  onStep?: (step: IterativeStep, removedSoFar: number) => void;
}

export interface RemovalPlan {
  readonly layers: number[];
  readonly strategy: Strategy;
  readonly count: number;
  /** For `iterative`: the units in the order they were removed. */
  readonly steps?: readonly IterativeStep[];
}

/** The block count that `remove` or `ratio` asks for. */
export function removalCount(blockCount: number, options: Pick<PlanOptions, "remove" | "ratio">): number {
  if ((options.remove === undefined) === (options.ratio === undefined)) {
    throw new ShortgptError("ERR_INVALID_ARG", "give exactly one of remove (a count) or ratio (a fraction)");
  }
  if (options.remove !== undefined) return options.remove;
  const ratio = options.ratio!;
  if (!(ratio > 0 && ratio < 1)) throw new ShortgptError("ERR_INVALID_ARG", `ratio ${ratio} must be between 0 and 1`);
  return Math.max(1, Math.round(ratio * blockCount));
}

/** Planning scores from a scoring run (Model.score / scoreModel). */
export function planningScores(result: ScoreResult): PlanningScores {
  return {
    blockCount: result.report.blockCount,
    bi: result.report.layers.map((l) => l.bi),
    angular: new Map([...result.angularBySpan].map(([n, values]) => [n, values.map((v) => v ?? Number.POSITIVE_INFINITY)])),
  };
}

export async function planRemoval(input: PlanningScores | ScoreResult, options: PlanOptions): Promise<RemovalPlan> {
  const scores = "report" in input ? planningScores(input) : input;
  const strategy = options.strategy ?? "bi";
  const count = removalCount(scores.blockCount, options);
  const layerRuleSet = options.rules ?? (options.file ? layerRules(options.file) : undefined);
  if (!layerRuleSet) throw new ShortgptError("ERR_INVALID_ARG", "planRemoval needs the model's layer rules: pass `rules` or `file`");
  const base = selectionRules(layerRuleSet);
  const rules: SelectionRules = options.force ? { ...base, period: 1, lastBlockFixed: false } : base;
  switch (strategy) {
    case "bi":
      return { layers: cheapestValidSet(scores.bi, count, rules), strategy, count };
    case "block": {
      const angular = scores.angular.get(count);
      if (!angular) {
        throw new ShortgptError(
          "ERR_MISSING_SCORES",
          `the block strategy for ${count} blocks needs angular distances over a span of ${count}; score with --span ${count}`,
        );
      }
      return { layers: cheapestValidRun(angular, count, rules), strategy, count };
    }
    case "iterative": {
      if (!options.rescore) throw new ShortgptError("ERR_INVALID_ARG", "the iterative strategy needs a model to re-score");
      const { removed, steps } = await iterativeSelection(options.rescore, count, rules, options.onStep);
      return { layers: removed, strategy, count, steps };
    }
    default:
      throw new ShortgptError("ERR_INVALID_ARG", `unknown strategy '${String(strategy)}': use ${STRATEGIES.join(", ")}`);
  }
}
