/**
 * The shape of a scoring result as `shortgpt score --json` writes it and as
 * the reports read it. src/report/score-schema.ts is its JSON Schema.
 */
import type { DeviceReport } from "../device/select.js";

export type Metric = "bi" | "angular" | "rm";
export const METRICS: readonly Metric[] = ["bi", "angular", "rm"];

export interface LayerScore {
  /** Block index in the scored file. */
  readonly index: number;
  /** Block Influence: 1 − mean cos(x_i, x_{i+1}) over all calibration positions (ShortGPT Eq. 1). */
  readonly bi: number;
  /** Relative magnitude: mean ‖f(x)‖ / ‖x + f(x)‖ (f(x) = the block's residual update). */
  readonly rm: number;
  /**
   * Angular distance arccos(cos(x_i, x_{i+span}))/π at the last position of each
   * window (Gromov et al.), averaged over windows; null when i + span runs past the last block.
   */
  readonly angular: number | null;
  /** The same distance averaged over all positions; null past the last block. */
  readonly angularAllPositions: number | null;
}

export interface CalibrationSummary {
  /** Where the text came from (file names, "stdin", "nlp-corpus"). */
  readonly sources: readonly string[];
  /** Characters of text read. */
  readonly characters: number;
  /** Tokens the text gave. */
  readonly textTokens: number;
}

export interface ScoreReport {
  readonly model: string;
  readonly architecture: string;
  readonly blockCount: number;
  /** The metric `order` ranks by. */
  readonly metric: Metric;
  /** Span n of the angular distance. */
  readonly span: number;
  readonly ctx: number;
  readonly windows: number;
  /**
   * Windows asked for (`windows` option, default 64). Larger than `windows`
   * when the text was too short to give that many.
   */
  readonly windowsRequested?: number;
  /** Tokens scored (windows × ctx). */
  readonly tokens: number;
  readonly calibration?: CalibrationSummary;
  readonly layers: readonly LayerScore[];
  /** Block indices from most to least removable by `metric`. */
  readonly order: readonly number[];
  readonly seconds?: number;
  /** The device that scored it (GPU or CPU, with versions; why `auto` fell back to the CPU). */
  readonly device?: DeviceReport;
}

/** What a prune did and cost, for the reports (all optional: shown when known). */
export interface PruneOutcome {
  readonly removed: readonly number[];
  readonly strategy: string;
  readonly output?: string;
  readonly bytesBefore?: number;
  readonly bytesAfter?: number;
  readonly parametersBefore?: number;
  readonly parametersAfter?: number;
  readonly perplexityBefore?: number;
  readonly perplexityAfter?: number;
  /** Text the perplexities were measured on. */
  readonly evalText?: string;
  readonly prefillTokensPerSecondBefore?: number;
  readonly prefillTokensPerSecondAfter?: number;
  readonly decodeTokensPerSecondBefore?: number;
  readonly decodeTokensPerSecondAfter?: number;
}
