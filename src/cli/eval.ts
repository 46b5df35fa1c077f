/**
 * `shortgpt eval <model> --text FILE`: perplexity exactly as llama-perplexity
 * computes it (same chunking, same scored positions), optionally with blocks
 * skipped to preview a removal without writing a file.
 */
import type { Command } from "commander";

import { formatLayerList, parseLayerList } from "../arch/layer-rules.js";
import { describeDevice } from "../device/describe.js";
import { inputError } from "../files/file-errors.js";
import { engineProgress } from "./calibration-options.js";
import { action, positiveInt, printJson, readTextInput, UsageError } from "./common.js";
import { addDeviceOptions, deviceOptions, type DeviceFlags } from "./device-options.js";
import { terminalSafe } from "./safe-text.js";

interface EvalFlags extends DeviceFlags {
  text: string;
  ctx: number;
  chunks?: number;
  skip?: string;
  threads?: number;
  json?: boolean;
  forceContext?: boolean;
}

/** llama-perplexity reads its file and drops one trailing newline before tokenizing. `-` reads stdin. */
export function readEvalText(path: string): string {
  let text: string;
  try {
    text = readTextInput(path);
  } catch (error) {
    throw inputError(error, path, "text");
  }
  return text.endsWith("\n") ? text.slice(0, -1) : text;
}

export function registerEval(program: Command): void {
  const command = program
    .command("eval")
    .description("perplexity of a GGUF model on a text, computed as llama-perplexity does (optionally with blocks skipped)")
    .argument("<model>", "GGUF model file")
    .requiredOption("--text <file>", "text file (UTF-8), e.g. wikitext-2-raw/wiki.test.raw; '-' reads standard input")
    .option("--ctx <n>", "tokens per chunk", positiveInt("--ctx"), 512)
    .option("--chunks <n>", "score at most this many chunks", positiveInt("--chunks"))
    .option("--skip <list>", "0-based blocks to skip (run as identity), e.g. 3,4 or 6-11")
    .option("--threads <n>", "threads (default: one per physical core)", positiveInt("--threads"))
    .option("--json", "print one JSON object instead of text")
    .option("--force-context", "allow --ctx beyond the model's training context ({arch}.context_length)");
  addDeviceOptions(command)
    .addHelpText(
      "after",
      `
The text is tokenized once with BOS, cut into chunks of --ctx tokens whose first
token is replaced by BOS, and positions ctx/2 .. ctx-2 of each chunk are scored:
the numbers compare with llama.cpp's llama-perplexity like for like.

Examples:
  shortgpt eval model.gguf --text wiki.test.raw --chunks 20
  shortgpt eval gemma3.gguf --text wiki.test.raw --skip 6-11 --json`,
    )
    .action(
      action(async (ctx, modelPath: string, flags: EvalFlags) => {
        let skip: number[] = [];
        if (flags.skip !== undefined) {
          try {
            skip = parseLayerList(flags.skip);
          } catch (error) {
            throw new UsageError((error as Error).message);
          }
        }
        const text = readEvalText(flags.text);
        const started = performance.now();
        const { openModel } = await import("../model.js");
        const model = await openModel(modelPath, { ...(flags.threads !== undefined ? { threads: flags.threads } : {}), ...deviceOptions(flags) });
        try {
          // A bar on a terminal; without one, a line on stderr every 25% (as score does).
          const progress = engineProgress("perplexity", flags.ctx, ctx.interactive && !flags.json);
          let result;
          try {
            result = await model.perplexity(text, {
              ctx: flags.ctx,
              ...(flags.chunks !== undefined ? { chunks: flags.chunks } : {}),
              skip,
              signal: ctx.signal,
              ...(flags.forceContext ? { allowLongContext: true } : {}),
              onProgress: progress.onProgress,
            });
          } finally {
            progress.display.stop();
          }
          const seconds = (performance.now() - started) / 1000;
          if (flags.json) {
            printJson({
              model: modelPath,
              ctx: result.ctx,
              chunks: result.chunks,
              tokensScored: result.tokensScored,
              perplexity: result.perplexity,
              skip: result.skip,
              seconds: Number(seconds.toFixed(3)),
              device: model.device,
            });
            return;
          }
          const skipped = result.skip.length > 0 ? ` with blocks ${formatLayerList(result.skip)} skipped` : "";
          process.stdout.write(
            `perplexity ${result.perplexity.toFixed(4)}${skipped}\n` +
              `${result.chunks} chunks of ${result.ctx} tokens, ${result.tokensScored} tokens scored, ${seconds.toFixed(1)} s\n` +
              `device: ${terminalSafe(describeDevice(model.device))}\n`,
          );
        } finally {
          model.close();
        }
      }),
    );
}
