/** `shortgpt score <model> --text FILES`: Block Influence (and friends) of every block. */
import { writeFileSync } from "node:fs";

import { Option, type Command } from "commander";

import { layerRules } from "../arch/layer-rules.js";
import { describeDevice } from "../device/describe.js";
import { cheapestValidSet, selectionRules } from "../plan/select.js";
import { renderScoreTable } from "../report/terminal.js";
import { METRICS, type Metric, type ScoreReport } from "../score/report-types.js";
import { scoreModel } from "../score/score.js";
import { action, positiveInt, refuseStdout } from "./common.js";
import { addCalibrationOptions, calibrationText, engineProgress, warnFewerWindows, type CalibrationFlags } from "./calibration-options.js";
import { addDeviceOptions, deviceOptions, type DeviceFlags } from "./device-options.js";

interface ScoreFlags extends CalibrationFlags, DeviceFlags {
  metric: Metric;
  span: number;
  json?: string;
  report?: string;
  mark?: number;
}

/** Writes JSON to a file, or to stdout for "-". */
export function writeJsonOutput(target: string, value: unknown): void {
  const text = `${JSON.stringify(value, null, 2)}\n`;
  if (target === "-") process.stdout.write(text);
  else writeFileSync(target, text);
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
          }));
        } finally {
          progress.display.stop();
          model.close();
        }
        warnFewerWindows(report);
        const rules = layerRules(model.file);
        const k = Math.min(flags.mark ?? Math.max(1, Math.round(report.blockCount / 4)), rules.removableBlocks - 1);
        const metricValues = report.layers.map((l) => (report.metric === "bi" ? l.bi : report.metric === "rm" ? l.rm : (l.angular ?? Number.POSITIVE_INFINITY)));
        const marked = new Set(cheapestValidSet(metricValues, k, selectionRules(rules)));
        if (flags.json) writeJsonOutput(flags.json, report);
        if (flags.report) {
          const { renderHtmlReport } = await import("../report/html-report.js");
          writeFileSync(flags.report, renderHtmlReport({ scores: report, generatedAt: new Date() }));
        }
        if (flags.json !== "-") {
          process.stdout.write(`${renderScoreTable(report, { marked, color: ctx.color })}\n`);
          process.stdout.write(`${k} most removable (valid under ${rules.architecture}'s rules): ${[...marked].join(", ")}; scored in ${report.seconds?.toFixed(1)} s\n`);
          if (report.device) process.stdout.write(`device: ${describeDevice(report.device)}\n`);
        }
      }),
    );
}
