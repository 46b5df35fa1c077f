/**
 * Options shared by the commands that score a model (score, prune --remove,
 * demo): where the calibration text comes from, how it is windowed, and the
 * engine's threads; plus the progress display of a scoring pass.
 */
import type { Command } from "commander";

import { readCalibrationText, type CalibrationText } from "../data/calibration.js";
import type { EngineProgress } from "../model.js";
import { DEFAULT_CTX, DEFAULT_WINDOWS } from "../score/score.js";
import { positiveInt, UsageError } from "./common.js";
import { createProgress, type ProgressDisplay } from "./progress.js";

export interface CalibrationFlags {
  text?: string[];
  field?: string;
  ctx: number;
  windows: number;
  threads?: number;
  forceContext?: boolean;
}

export function addCalibrationOptions(command: Command): Command {
  return command
    .option("--text <files...>", "calibration text: .txt files, .jsonl (with --field), '-' for stdin")
    .option("--field <name>", "the text field of each .jsonl line")
    .option("--ctx <tokens>", "tokens per calibration window", positiveInt("--ctx"), DEFAULT_CTX)
    .option("--windows <n>", "at most this many windows, spread evenly over the text", positiveInt("--windows"), DEFAULT_WINDOWS)
    .option("--threads <n>", "CPU threads (default: one per physical core)", positiveInt("--threads"))
    .option("--force-context", "allow windows longer than the model's training context ({arch}.context_length)");
}

export function calibrationText(flags: CalibrationFlags): CalibrationText {
  if (!flags.text || flags.text.length === 0) throw new UsageError("calibration text is needed: --text FILE... (or - for stdin)");
  return readCalibrationText(flags.text, flags.field !== undefined ? { field: flags.field } : {});
}

/** A progress display for an engine pass: windows or chunks done, tokens/s, ETA. */
export function engineProgress(label: string, unitTokens: number, interactive: boolean): {
  display: ProgressDisplay;
  onProgress: (p: EngineProgress) => void;
} {
  const display = createProgress({ label, total: 1, unit: "tokens", interactive, linesEveryPercent: interactive ? undefined : 25 });
  return {
    display,
    onProgress: (p) => {
      display.setTotal(p.total * unitTokens);
      display.update(p.done * unitTokens, { done: `${Math.floor(p.done)}/${p.total}` });
    },
  };
}
