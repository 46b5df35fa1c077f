/**
 * Scoring a model's blocks on calibration text: tokenize once, cut ShortGPT
 * windows, run one forward pass with hooks, and turn the hook sums into
 * per-block Block Influence, relative magnitude and angular distance.
 */
import { performance } from "node:perf_hooks";

import { checkCallOptions } from "../call-options.js";
import { calibrationWindows, type CalibrationText } from "../data/calibration.js";
import { ShortgptError } from "../errors.js";
import type { HiddenStats } from "../evaluate/hidden-stats.js";
import type { EngineProgress, Model } from "../model.js";
import { METRICS, type LayerScore, type Metric, type ScoreReport } from "./report-types.js";

export interface ScoreOptions {
  /** Tokens per window, BOS included (default 256, as the paper's code). */
  ctx?: number;
  /** Most windows (default 64), spread evenly over the text. */
  windows?: number;
  /** Metric that `order` ranks by (default "bi"). */
  metric?: Metric;
  /** Span n of the angular distance (default 1). More spans can be asked with `spans`. */
  span?: number;
  /** Extra spans to measure (their angular distances come back in `angularBySpan`). */
  spans?: readonly number[];
  /** Blocks to skip while scoring (the iterative strategy's re-scoring). */
  skip?: readonly number[];
  signal?: AbortSignal;
  onProgress?: (progress: EngineProgress) => void;
  /** Windows (ctx) longer than the model's training context are refused unless this is set. */
  allowLongContext?: boolean;
}

export interface ScoreResult {
  readonly report: ScoreReport;
  /** Angular distance at the last position, by span n then start block (null past the end). */
  readonly angularBySpan: ReadonlyMap<number, readonly (number | null)[]>;
  readonly stats: HiddenStats;
}

export const DEFAULT_CTX = 256;
export const DEFAULT_WINDOWS = 64;

/** Per-block metrics from hook sums. */
export function layerScoresFromStats(stats: HiddenStats, span: number): LayerScore[] {
  const spanSums = stats.spans.find((s) => s.span === span);
  if (!spanSums) throw new ShortgptError("ERR_INVALID_ARG", `the hidden stats have no span ${span}`);
  const out: LayerScore[] = [];
  for (let i = 0; i < stats.blocks; i++) {
    const hasSpan = i < spanSums.cosSum.length;
    out.push({
      index: i,
      bi: 1 - stats.cosSum[i]! / stats.rows,
      rm: stats.relMagnitudeSum[i]! / stats.rows,
      angular: hasSpan ? spanSums.lastAngleSum[i]! / stats.windows : null,
      angularAllPositions: hasSpan ? spanSums.angleSum[i]! / stats.rows : null,
    });
  }
  return out;
}

/** Block indices, most removable first (lowest metric; blocks without a value last; ties: later block first). */
export function rankBlocks(layers: readonly LayerScore[], metric: Metric, exclude: ReadonlySet<number> = new Set()): number[] {
  const value = (l: LayerScore) => (metric === "bi" ? l.bi : metric === "rm" ? l.rm : l.angular);
  return layers
    .filter((l) => !exclude.has(l.index))
    .sort((a, b) => {
      const va = value(a);
      const vb = value(b);
      if (va === null && vb === null) return b.index - a.index;
      if (va === null) return 1;
      if (vb === null) return -1;
      return va - vb || b.index - a.index;
    })
    .map((l) => l.index);
}

export async function scoreModel(model: Model, calibration: CalibrationText | string, options: ScoreOptions = {}): Promise<ScoreResult> {
  const started = performance.now();
  checkCallOptions("model.score", options);
  const ctx = options.ctx ?? DEFAULT_CTX;
  const maxWindows = options.windows ?? DEFAULT_WINDOWS;
  const metric = options.metric ?? "bi";
  const span = options.span ?? 1;
  if (!METRICS.includes(metric)) throw new ShortgptError("ERR_INVALID_ARG", `unknown metric '${metric}': use ${METRICS.join(", ")}`);
  // Span n compares x_i with x_{i+n}: n = blockCount (x_0 with the last state) is the longest there is.
  if (!Number.isInteger(span) || span < 1 || span > model.blockCount) {
    throw new ShortgptError("ERR_INVALID_ARG", `span must be between 1 and ${model.blockCount}, got ${span}`);
  }
  if (!options.allowLongContext && ctx > model.contextLength) {
    throw new ShortgptError(
      "ERR_CONTEXT_LENGTH",
      `windows of ${ctx} tokens are longer than the ${model.contextLength}-token context ${model.path} was trained on: use --ctx ${model.contextLength} or less, or --force-context (allowLongContext)`,
    );
  }
  const text = typeof calibration === "string" ? { text: calibration, sources: ["text"] } : calibration;
  if (!text || typeof text.text !== "string") throw new ShortgptError("ERR_INVALID_ARG", "model.score: the calibration text must be a string or { text, sources }");
  const release = model.retain();
  let windows;
  let stats;
  try {
    // Off the JS thread when the text is long (a worker_thread, same ids).
    const ids = await model.tokenize(text.text, { addSpecial: false, ...(options.signal ? { signal: options.signal } : {}) });
    windows = calibrationWindows(ids, { ctx, maxWindows, bos: model.windowStartToken() });
    const spans = [...new Set([span, ...(options.spans ?? [])])].sort((a, b) => a - b);
    stats = await model.hiddenStats(windows, {
      spans,
      ...(options.skip ? { skip: options.skip } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.allowLongContext ? { allowLongContext: true } : {}),
    });
  } finally {
    release();
  }
  const layers = layerScoresFromStats(stats, span);
  const angularBySpan = new Map<number, (number | null)[]>();
  for (const s of stats.spans) {
    angularBySpan.set(
      s.span,
      Array.from({ length: stats.blocks }, (_, i) => (i < s.lastAngleSum.length ? s.lastAngleSum[i]! / stats.windows : null)),
    );
  }
  const report: ScoreReport = {
    model: model.path,
    architecture: model.architecture,
    blockCount: model.blockCount,
    metric,
    span,
    ctx,
    windows: windows.windows,
    windowsRequested: maxWindows,
    tokens: windows.windows * ctx,
    calibration: { sources: text.sources, characters: text.text.length, textTokens: windows.textTokens },
    layers,
    order: rankBlocks(layers, metric, new Set(options.skip ?? [])),
    seconds: (performance.now() - started) / 1000,
    device: model.device,
  };
  return { report, angularBySpan, stats };
}
