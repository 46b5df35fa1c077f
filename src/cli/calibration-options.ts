/**
 * Options shared by the commands that score a model (score, prune --remove,
 * demo): where the calibration text comes from, how it is windowed, and the
 * engine's threads; plus the progress display of a scoring pass.
 */
import type { Command } from "commander";

import { readCalibrationText, type CalibrationText } from "../data/calibration.js";
import type { EngineProgress } from "../model.js";
import type { ScoreReport } from "../score/report-types.js";
import { DEFAULT_CTX, DEFAULT_WINDOWS } from "../score/score.js";
import { pc } from "./colors.js";
import { checkStdinOnce, positiveInt, UsageError } from "./common.js";
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
  checkStdinOnce([["--text", flags.text]]);
  return readCalibrationText(flags.text, flags.field !== undefined ? { field: flags.field } : {});
}

/** Says on stderr when the text gave fewer windows than --windows asked for (the scores rest on less text). */
export function warnFewerWindows(report: ScoreReport): void {
  const asked = report.windowsRequested;
  if (asked === undefined || report.windows >= asked) return;
  const tokens = report.calibration ? `${report.calibration.textTokens} tokens` : "too few tokens";
  process.stderr.write(
    `${pc.yellow("shortgpt: warning:")} the calibration text gave ${tokens}: only ${report.windows} window${report.windows === 1 ? "" : "s"} of ${report.ctx} tokens, not the ${asked} asked for (--windows); more text gives steadier scores\n`,
  );
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
