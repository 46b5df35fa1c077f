/** `shortgpt prune <in.gguf> -o <out.gguf> --layers LIST`: remove blocks and write a new GGUF. */
import type { Command } from "commander";
import pc from "picocolors";

import { formatLayerList, parseLayerList } from "../arch/layer-rules.js";
import { pruneLayers, type PruneResult } from "../gguf/prune.js";
import { action, formatBytes, printJson, UsageError } from "./common.js";
import { createProgress } from "./progress.js";

interface PruneFlags {
  output: string;
  layers?: string;
  force?: boolean;
  json?: boolean;
}

export function registerPrune(program: Command): void {
  program
    .command("prune")
    .description("remove transformer blocks from a GGUF model and write a new file that llama.cpp runs")
    .argument("<model>", "input GGUF file (never modified)")
    .requiredOption("-o, --output <file>", "output GGUF file (written atomically)")
    .option("--layers <list>", "0-based block indices to remove, e.g. 3,5,21-29")
    .option("--force", "write even when the set breaks the architecture's layer-index rules")
    .option("--json", "print one JSON object with the result instead of text")
    .addHelpText(
      "after",
      `
Examples:
  shortgpt prune model.gguf -o model-pruned.gguf --layers 20-28
  shortgpt prune gemma3.gguf -o small.gguf --layers 6-11 --json

Some architectures tie a block's behaviour to its index (gemma2/gemma3/cohere2
sliding-window periods, llama4 NoPE/MoE steps): removal sets that break the
pattern are refused with the nearest valid set named; --force overrides.`,
    )
    .action(
      action(async (ctx, model: string, flags: PruneFlags) => {
        if (!flags.layers) throw new UsageError("prune needs --layers LIST (e.g. --layers 20-28)");
        let layers: number[];
        try {
          layers = parseLayerList(flags.layers);
        } catch (error) {
          throw new UsageError((error as Error).message);
        }
        const progress = createProgress({ label: "writing", total: 1, unit: "bytes", interactive: ctx.interactive && !flags.json });
        let result: PruneResult;
        try {
          result = await pruneLayers(model, flags.output, layers, {
            force: Boolean(flags.force),
            signal: ctx.signal,
            onProgress: ({ bytesDone, bytesTotal }) => {
              progress.setTotal(bytesTotal);
              progress.update(bytesDone);
            },
          });
        } finally {
          progress.stop();
        }
        for (const w of result.warnings) process.stderr.write(`${pc.yellow("shortgpt: warning:")} ${w} (--force)\n`);
        if (flags.json) {
          printJson({
            input: result.input,
            output: result.output,
            removed: result.removed,
            blocksBefore: result.blocksBefore,
            blocksAfter: result.blocksAfter,
            bytesBefore: result.bytesBefore,
            bytesAfter: result.bytesAfter,
            seconds: Number(result.seconds.toFixed(3)),
          });
          return;
        }
        printPruneSummary(result);
      }),
    );
}

export function printPruneSummary(result: PruneResult): void {
  const saved = result.bytesBefore - result.bytesAfter;
  process.stdout.write(
    `removed blocks ${formatLayerList(result.removed)} (${result.removed.length} of ${result.blocksBefore}); ${result.blocksAfter} remain\n` +
      `${result.output}: ${formatBytes(result.bytesAfter)} (was ${formatBytes(result.bytesBefore)}, saved ${formatBytes(saved)}, ${((100 * saved) / result.bytesBefore).toFixed(1)}%) in ${result.seconds.toFixed(2)} s\n`,
  );
  for (const c of result.changes) process.stdout.write(`  ${pc.dim(c)}\n`);
}
