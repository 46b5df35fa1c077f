/**
 * `shortgpt prune <in.gguf> -o <out.gguf> (--layers LIST | --remove N | --ratio R)`:
 * choose blocks (given, or from scores with a strategy), remove them, write a
 * new GGUF, and optionally measure perplexity before and after.
 */
import { statSync } from "node:fs";
import { performance } from "node:perf_hooks";

import { InvalidArgumentError, Option, type Command } from "commander";

import { formatLayerList, layerRules, parseLayerList } from "../arch/layer-rules.js";
import { ShortgptError } from "../errors.js";
import { inputError } from "../files/file-errors.js";
import { checkOutputPath, writeTextAtomic } from "../files/output.js";
import { contextLengthOf } from "../gguf/metadata.js";
import { pruneLayers, type PruneResult } from "../gguf/prune.js";
import { readGguf } from "../gguf/read.js";
import { kv } from "../gguf/value.js";
import type { Model } from "../model.js";
import { planningScores, planRemoval, STRATEGIES, type PlanningScores, type Strategy } from "../plan/plan.js";
import { schemaProblem } from "../report/schema-check.js";
import { SCORE_REPORT_SCHEMA } from "../report/score-schema.js";
import type { PruneOutcome, ScoreReport } from "../score/report-types.js";
import { scoreModel } from "../score/score.js";
import { addCalibrationOptions, calibrationText, engineProgress, warnFewerWindows, type CalibrationFlags } from "./calibration-options.js";
import { pc } from "./colors.js";
import { action, checkStdinOnce, formatBytes, formatCount, nonNegativeInt, positiveInt, printJson, readTextInput, refuseStdout, UsageError } from "./common.js";
import { addDeviceOptions, deviceOptions, type DeviceFlags } from "./device-options.js";
import { createProgress } from "./progress.js";
import { terminalSafe } from "./safe-text.js";

interface PruneFlags extends CalibrationFlags, DeviceFlags {
  output: string;
  layers?: string;
  remove?: number;
  ratio?: number;
  scores?: string;
  strategy: Strategy;
  force?: boolean;
  json?: boolean;
  eval?: string[];
  evalCtx: number;
  evalChunks?: number;
  report?: string;
}

function ratio(value: string): number {
  const r = Number(value);
  if (!(r > 0 && r < 1)) throw new InvalidArgumentError(`--ratio must be a fraction between 0 and 1, got ${value}`);
  return r;
}

export function registerPrune(program: Command): void {
  const command = program
    .command("prune")
    .description("remove transformer blocks from a GGUF model and write a new file that llama.cpp runs")
    .argument("<model>", "input GGUF file (never modified)")
    .requiredOption("-o, --output <file>", "output GGUF file (written atomically; not '-')")
    .option("--layers <list>", "0-based block indices to remove, e.g. 3,5,21-29")
    .option("--remove <n>", "remove this many blocks, chosen from scores", positiveInt("--remove"))
    .option("--ratio <r>", "remove this fraction of the blocks, chosen from scores", ratio)
    .addOption(new Option("--strategy <name>", "how --remove/--ratio choose: bi (lowest Block Influence), block (best contiguous run, angular distance), iterative (re-score after each removal)").choices([...STRATEGIES]).default("bi"))
    .option("--scores <file>", "scores from `shortgpt score --json` instead of scoring now ('-' reads standard input)");
  addDeviceOptions(addCalibrationOptions(command))
    .option("--eval <files...>", "measure perplexity before and after on this text (our engine; '-' reads standard input)")
    .option("--eval-ctx <tokens>", "perplexity chunk size", positiveInt("--eval-ctx"), 512)
    .option("--eval-chunks <n>", "at most this many perplexity chunks", nonNegativeInt("--eval-chunks"))
    .option("--report <file>", "write a standalone HTML report")
    .option("--force", "write even when the set breaks the architecture's layer-index rules")
    .option("--json", "print one JSON object with the result instead of text (seconds: the rewrite; timings: each step and the total)")
    .addHelpText(
      "after",
      `
Examples:
  shortgpt prune model.gguf -o model-pruned.gguf --layers 20-28
  shortgpt prune model.gguf -o small.gguf --remove 6 --text calib.txt --eval wiki.test.raw --report prune.html
  shortgpt prune model.gguf -o small.gguf --ratio 0.25 --scores scores.json --json
  shortgpt prune model.gguf -o small.gguf --remove 4 --strategy iterative --text calib.txt

Some architectures tie a block's behaviour to its index (gemma2/gemma3/cohere2
sliding-window periods, llama4 NoPE/MoE steps): every strategy only proposes
pattern-valid sets, explicit --layers that break the pattern are refused with
the nearest valid set named; --force overrides.`,
    )
    .action(
      action(async (ctx, modelPath: string, flags: PruneFlags) => {
        const started = performance.now();
        const modes = [flags.layers !== undefined, flags.remove !== undefined, flags.ratio !== undefined].filter(Boolean).length;
        if (modes !== 1) throw new UsageError("give exactly one of --layers LIST, --remove N or --ratio R");
        refuseStdout("-o", flags.output, "the model is written to a temporary file beside the output and renamed into place");
        refuseStdout("--report", flags.report, "the report is a standalone HTML file");
        if (flags.report && flags.layers !== undefined) {
          throw new UsageError("--report needs scores: choose the blocks with --remove/--ratio and --text or --scores");
        }
        checkStdinOnce([["--text", flags.text], ["--scores", flags.scores], ["--eval", flags.eval]]);
        /** Seconds of each step, for --json. */
        const timings: { score?: number; rewrite?: number; eval?: number; total?: number } = {};
        const timed = async <T>(step: "score" | "eval", run: () => Promise<T>): Promise<T> => {
          const t0 = performance.now();
          try {
            return await run();
          } finally {
            timings[step] = (timings[step] ?? 0) + (performance.now() - t0) / 1000;
          }
        };
        const interactive = ctx.interactive && !flags.json;
        const longContext = flags.forceContext ? { allowLongContext: true } : {};
        const say = (line: string) => {
          if (!flags.json) process.stdout.write(`${line}\n`);
        };
        let layers: number[];
        let strategy: string = "layers";
        /** The scores the blocks were chosen from (fresh or from --scores). */
        let scoreReport: ScoreReport | undefined;
        let model: Model | undefined;
        // The engine (and the addon) load only when a command path needs them: `--layers` never does.
        const open = async (path: string) =>
          (await import("../model.js")).openModel(path, { ...(flags.threads !== undefined ? { threads: flags.threads } : {}), ...deviceOptions(flags) });
        const openOnce = async () => (model ??= await open(modelPath));
        // Everything that can fail is checked before a long scoring pass and before the model is
        // written: the destinations, the --eval text, the --eval-ctx against the model's context.
        checkOutputPath(flags.output);
        if (flags.report) checkOutputPath(flags.report, "report");
        const evalText = flags.eval ? calibrationText({ ...flags, text: flags.eval }) : undefined;
        if (evalText && !flags.forceContext) {
          const limit = contextLengthOf(readGguf(modelPath));
          if (limit !== undefined && flags.evalCtx > limit) {
            throw new ShortgptError("ERR_CONTEXT_LENGTH", `--eval-ctx ${flags.evalCtx} is longer than the ${limit}-token context ${modelPath} was trained on: use ${limit} or less, or --force-context`);
          }
        }
        try {
          if (flags.layers !== undefined) {
            try {
              layers = parseLayerList(flags.layers);
            } catch (error) {
              throw new UsageError((error as Error).message);
            }
          } else {
            const file = readGguf(modelPath);
            const rules = layerRules(file);
            const count = flags.remove ?? Math.max(1, Math.round(flags.ratio! * rules.blockCount));
            strategy = flags.strategy;
            const span = strategy === "block" ? count : 1;
            let scores: ScoreReport;
            let planning: PlanningScores;
            if (flags.scores && strategy === "iterative") throw new UsageError("the iterative strategy re-scores the model: give --text, not --scores");
            const text = flags.scores ? undefined : calibrationText(flags);
            if (flags.scores) {
              scores = readScoresFile(flags.scores, rules.blockCount);
              planning = {
                blockCount: scores.blockCount,
                bi: scores.layers.map((l) => l.bi),
                angular: new Map([[scores.span, scores.layers.map((l) => l.angular ?? Number.POSITIVE_INFINITY)]]),
              };
            } else {
              const m = await openOnce();
              const progress = engineProgress("scoring", flags.ctx, interactive);
              try {
                const scored = await timed("score", () => scoreModel(m, text!, { ctx: flags.ctx, windows: flags.windows, span, signal: ctx.signal, onProgress: progress.onProgress, ...longContext }));
                scores = scored.report;
                warnFewerWindows(scores);
                planning = planningScores(scored);
              } finally {
                progress.display.stop();
              }
            }
            scoreReport = scores;
            const plan = await planRemoval(planning, {
              remove: count,
              strategy: flags.strategy,
              rules,
              ...(flags.force ? { force: true } : {}),
              ...(strategy === "iterative"
                ? {
                    // The first pass (nothing skipped) is the one already scored above.
                    rescore: async (skipped: readonly number[]) => {
                      if (skipped.length === 0) return scores.layers.map((l) => l.bi);
                      const r = await timed("score", async () => scoreModel(await openOnce(), text!, { ctx: flags.ctx, windows: flags.windows, skip: skipped, signal: ctx.signal, ...longContext }));
                      return r.report.layers.map((l) => l.bi);
                    },
                    onStep: (step: { removed: readonly number[]; score: number }, done: number) =>
                      say(pc.dim(`  iterative: removed ${formatLayerList(step.removed)} (BI ${step.score.toFixed(5)}), ${done}/${count}`)),
                  }
                : {}),
            });
            layers = plan.layers;
            say(`${strategy} strategy chose blocks ${formatLayerList(layers)} (${layers.length} of ${rules.blockCount})`);
          }

          const progress = createProgress({ label: "writing", total: 1, unit: "bytes", interactive });
          let result: PruneResult;
          try {
            result = await pruneLayers(modelPath, flags.output, layers, {
              force: Boolean(flags.force),
              signal: ctx.signal,
              metadata: provenance(strategy, scoreReport),
              onProgress: ({ bytesDone, bytesTotal }) => {
                progress.setTotal(bytesTotal);
                progress.update(bytesDone);
              },
            });
          } finally {
            progress.stop();
          }
          timings.rewrite = result.seconds;
          for (const w of result.warnings) process.stderr.write(`${pc.yellow("shortgpt: warning:")} ${terminalSafe(w)} (--force)\n`);

          const outcome: { -readonly [K in keyof PruneOutcome]: PruneOutcome[K] } = {
            removed: result.removed,
            strategy,
            output: flags.output,
            bytesBefore: result.bytesBefore,
            bytesAfter: result.bytesAfter,
            parametersBefore: result.parametersBefore,
            parametersAfter: result.parametersAfter,
          };
          let evaluation: { text: string[]; ctx: number; chunks: number; tokensScored: number; perplexityBefore: number; perplexityAfter: number } | undefined;
          if (evalText) {
            const text = evalText;
            const options = { ctx: flags.evalCtx, ...(flags.evalChunks ? { chunks: flags.evalChunks } : {}), signal: ctx.signal, ...longContext };
            const m = await openOnce();
            const p1 = engineProgress("perplexity (before)", flags.evalCtx, interactive);
            const pplBefore = await timed("eval", () => m.perplexity(text.text, { ...options, onProgress: p1.onProgress })).finally(() => p1.display.stop());
            const pruned = await open(flags.output);
            const p2 = engineProgress("perplexity (after)", flags.evalCtx, interactive);
            const pplAfter = await timed("eval", () => pruned.perplexity(text.text, { ...options, onProgress: p2.onProgress })).finally(() => {
              p2.display.stop();
              pruned.close();
            });
            evaluation = { text: text.sources as string[], ctx: flags.evalCtx, chunks: pplBefore.chunks, tokensScored: pplBefore.tokensScored, perplexityBefore: pplBefore.perplexity, perplexityAfter: pplAfter.perplexity };
            outcome.perplexityBefore = pplBefore.perplexity;
            outcome.perplexityAfter = pplAfter.perplexity;
            outcome.evalText = text.sources.join(", ");
          }
          if (flags.report && scoreReport) {
            const { renderHtmlReport } = await import("../report/html-report.js");
            writeTextAtomic(flags.report, renderHtmlReport({ scores: scoreReport, outcome, generatedAt: new Date() }), "report");
          }
          if (flags.json) {
            printJson({
              input: result.input,
              output: result.output,
              removed: result.removed,
              blocksBefore: result.blocksBefore,
              blocksAfter: result.blocksAfter,
              bytesBefore: result.bytesBefore,
              bytesAfter: result.bytesAfter,
              // The rewrite alone (reading the header, writing and syncing the file); timings has every step.
              seconds: Number(result.seconds.toFixed(3)),
              timings: roundedTimings({ ...timings, total: (performance.now() - started) / 1000 }),
              ...(strategy !== "layers" ? { strategy, parametersBefore: result.parametersBefore, parametersAfter: result.parametersAfter } : {}),
              ...(evaluation ? { evaluation } : {}),
              ...(model ? { device: (model as Model).device } : {}),
            });
            return;
          }
          printPruneSummary(result);
          if (evaluation) {
            const change = (100 * (evaluation.perplexityAfter - evaluation.perplexityBefore)) / evaluation.perplexityBefore;
            say(`perplexity on ${terminalSafe(evaluation.text.join(", "))} (${evaluation.chunks} × ${evaluation.ctx} tokens): ${evaluation.perplexityBefore.toFixed(3)} -> ${evaluation.perplexityAfter.toFixed(3)} (${change >= 0 ? "+" : ""}${change.toFixed(1)}%)`);
          }
          if (flags.report) say(`report: ${terminalSafe(flags.report)}`);
        } finally {
          (model as Model | undefined)?.close();
        }
      }),
    );
}

const MAX_PROVENANCE_CHARS = 1024;

/** Provenance keys recorded in the pruned file besides the removed layers. */
function provenance(strategy: string, scores: ScoreReport | undefined) {
  const out = [kv.string("shortgpt.strategy", strategy)];
  if (scores) {
    out.push(kv.string("shortgpt.metric", scores.metric));
    const sources = scores.calibration ? ` from ${scores.calibration.sources.join(", ")}` : "";
    // Source names are free text (from a scores file, too): kept short in the model's metadata.
    const from = sources.length > MAX_PROVENANCE_CHARS ? `${sources.slice(0, MAX_PROVENANCE_CHARS)}...` : sources;
    out.push(kv.string("shortgpt.calibration", `${scores.windows} windows x ${scores.ctx} tokens${from}`));
  }
  return out;
}

/** Seconds of each step that ran (score, rewrite, eval) and the whole command (total), to the millisecond. */
function roundedTimings(timings: Record<string, number | undefined>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [step, seconds] of Object.entries(timings)) if (seconds !== undefined) out[step] = Number(seconds.toFixed(3));
  return out;
}

/** A scores file is ~200 bytes per block: anything this large is not one (and would be read whole). */
const MAX_SCORES_BYTES = 64 * 1024 * 1024;

/**
 * Reads and checks a `shortgpt score --json` file (`-`: standard input)
 * against SCORE_REPORT_SCHEMA and the model it is used with: every field that
 * reaches the plan, the pruned file's metadata or the report has the type and
 * range the schema says (ERR_SCORES_FILE naming the field otherwise).
 */
export function readScoresFile(path: string, blockCount: number): ScoreReport {
  let raw: string;
  try {
    if (path !== "-") {
      const st = statSync(path);
      if (st.isFile() && st.size > MAX_SCORES_BYTES) {
        throw new ShortgptError("ERR_SCORES_FILE", `${path} is ${st.size} bytes: not a shortgpt score --json file`);
      }
    }
    raw = readTextInput(path);
  } catch (error) {
    throw inputError(error, path === "-" ? "standard input" : path, "scores");
  }
  if (path === "-") path = "the scores on standard input";
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    throw new ShortgptError("ERR_SCORES_FILE", `${path} is not JSON (${(error as Error).message}); give the output of shortgpt score --json`);
  }
  // Scores of another model are the likeliest mistake: said first, in those words.
  const claimed = (parsed as { blockCount?: unknown } | null)?.blockCount;
  if (typeof claimed === "number" && claimed !== blockCount) {
    throw new ShortgptError("ERR_SCORES_FILE", `${path} scores ${claimed} blocks, but the model has ${blockCount}`);
  }
  const problem = schemaProblem(parsed, SCORE_REPORT_SCHEMA);
  if (problem) throw new ShortgptError("ERR_SCORES_FILE", `${path} is not the output of shortgpt score --json: ${problem}`);
  const s = parsed as ScoreReport;
  if (s.layers.length !== blockCount) {
    throw new ShortgptError("ERR_SCORES_FILE", `${path} has ${s.layers.length} layer scores, but the model has ${blockCount} blocks`);
  }
  s.layers.forEach((l, i) => {
    if (l.index !== i) throw new ShortgptError("ERR_SCORES_FILE", `${path}: layers[${i}] has index ${l.index}; the layers must be in block order`);
  });
  const outside = s.order.find((i) => i >= blockCount);
  if (outside !== undefined) throw new ShortgptError("ERR_SCORES_FILE", `${path}: order names block ${outside}, but the model has blocks 0-${blockCount - 1}`);
  if (s.span > blockCount) throw new ShortgptError("ERR_SCORES_FILE", `${path}: span ${s.span} is longer than the model's ${blockCount} blocks`);
  return s;
}

export function printPruneSummary(result: PruneResult): void {
  const saved = result.bytesBefore - result.bytesAfter;
  const { parametersBefore, parametersAfter } = result;
  const params = `; parameters ${formatCount(parametersBefore)} -> ${formatCount(parametersAfter)} (-${(100 * (1 - parametersAfter / parametersBefore)).toFixed(1)}%)`;
  process.stdout.write(
    `removed blocks ${formatLayerList(result.removed)} (${result.removed.length} of ${result.blocksBefore}); ${result.blocksAfter} remain\n` +
      `${terminalSafe(result.output)}: ${formatBytes(result.bytesAfter)} (was ${formatBytes(result.bytesBefore)}, saved ${formatBytes(saved)}, ${((100 * saved) / result.bytesBefore).toFixed(1)}%)${params} in ${result.seconds.toFixed(2)} s\n`,
  );
  // Changes name metadata keys of the file.
  for (const c of result.changes) process.stdout.write(`  ${pc.dim(terminalSafe(c))}\n`);
}
