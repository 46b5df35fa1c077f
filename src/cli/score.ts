/** `shortgpt score <model> --text FILES`: Block Influence (and friends) of every block. */
import { Option, type Command } from "commander";

import { layerRules } from "../arch/layer-rules.js";
import { describeDevice } from "../device/describe.js";
import { checkOutputPath, writeTextAtomic } from "../files/output.js";
import { cheapestValidSet, selectionRules } from "../plan/select.js";
import { renderScoreTable } from "../report/terminal.js";
import { METRICS, type Metric, type ScoreReport } from "../score/report-types.js";
import { scoreModel } from "../score/score.js";
import { action, positiveInt, refuseStdout } from "./common.js";
import { addCalibrationOptions, calibrationText, engineProgress, warnFewerWindows, type CalibrationFlags } from "./calibration-options.js";
import { addDeviceOptions, deviceOptions, type DeviceFlags } from "./device-options.js";
import { terminalSafe } from "./safe-text.js";

interface ScoreFlags extends CalibrationFlags, DeviceFlags {
  metric: Metric;
  span: number;
  json?: string;
  report?: string;
  mark?: number;
}

/** Writes JSON to a file (atomically: a failed write leaves the old file whole), or to stdout for "-". */
export function writeJsonOutput(target: string, value: unknown): void {
  const text = `${JSON.stringify(value, null, 2)}\n`;
  if (target === "-") process.stdout.write(text);
  else writeTextAtomic(target, text, "scores");
}

export function registerScore(program: Command): void {
  const command = program
    .command("score")
    .description("score every block of a GGUF model on calibration text: Block Influence, relative magnitude, angular distance")
    .argument("<model>", "GGUF file");
  addDeviceOptions(addCalibrationOptions(command))
    .addOption(new Option("--metric <metric>", "metric that ranks blocks (lowest = most removable)").choices([...METRICS]).default("bi"))
    .option("--span <n>", "span n of the angular distance between x_i and x_i+n", positiveInt("--span"), 1)
    .option("--mark <k>", "mark the k most removable blocks (a valid set under the layer rules; default: a quarter)", positiveInt("--mark"))
    .option("--json <file>", "write the scores as JSON ('-' for stdout)")
    .option("--report <file>", "write a standalone HTML report")
    .addHelpText(
      "after",
      `
Examples:
  shortgpt score model.gguf --text wiki.txt
  shortgpt score model.gguf --text data.jsonl --field text --windows 128 --json scores.json --report scores.html

BI_i = 1 - mean cos(x_i, x_i+1) over all calibration tokens (ShortGPT); the text is tokenized once
and cut into windows of --ctx tokens (BOS first where the model adds one), at most --windows of them.`,
    )
    .action(
      action(async (ctx, modelPath: string, flags: ScoreFlags) => {
        refuseStdout("--report", flags.report, "the report is a standalone HTML file (--json - prints the scores)");
        // Outputs that cannot be written are found now, not after the scoring pass.
        if (flags.json && flags.json !== "-") checkOutputPath(flags.json, "scores");
        if (flags.report) checkOutputPath(flags.report, "report");
        const text = calibrationText(flags);
        const { openModel } = await import("../model.js");
        const model = await openModel(modelPath, { ...(flags.threads !== undefined ? { threads: flags.threads } : {}), ...deviceOptions(flags) });
        const progress = engineProgress("scoring", flags.ctx, ctx.interactive && flags.json !== "-");
        let report: ScoreReport;
        try {
          ({ report } = await scoreModel(model, text, {
            ctx: flags.ctx,
            windows: flags.windows,
            metric: flags.metric,
            span: flags.span,
            signal: ctx.signal,
            onProgress: progress.onProgress,
            ...(flags.forceContext ? { allowLongContext: true } : {}),
          }));
        } finally {
          progress.display.stop();
          model.close();
        }
        warnFewerWindows(report);
        const rules = layerRules(model.file);
        const k = Math.min(flags.mark ?? Math.max(1, Math.round(report.blockCount / 4)), rules.removableBlocks - 1);
        const metricValues = report.layers.map((l) => (report.metric === "bi" ? l.bi : report.metric === "rm" ? l.rm : (l.angular ?? Number.POSITIVE_INFINITY)));
        // A model with one removable block has nothing to mark: removing it would leave no block.
        const marked = new Set(k >= 1 ? cheapestValidSet(metricValues, k, selectionRules(rules)) : []);
        if (flags.json) writeJsonOutput(flags.json, report);
        if (flags.report) {
          const { renderHtmlReport } = await import("../report/html-report.js");
          writeTextAtomic(flags.report, renderHtmlReport({ scores: report, generatedAt: new Date() }), "report");
        }
        if (flags.json !== "-") {
          process.stdout.write(`${renderScoreTable(report, { marked, color: ctx.color })}\n`);
          process.stdout.write(
            k >= 1
              ? `${k} most removable (valid under ${terminalSafe(rules.architecture)}'s rules): ${[...marked].join(", ")}; scored in ${report.seconds?.toFixed(1)} s\n`
              : `no block can be removed from a model with ${report.blockCount} block${report.blockCount === 1 ? "" : "s"}; scored in ${report.seconds?.toFixed(1)} s\n`,
          );
          if (report.device) process.stdout.write(`device: ${terminalSafe(describeDevice(report.device))}\n`);
        }
      }),
    );
}
