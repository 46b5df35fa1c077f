/** `shortgpt inspect <model.gguf> [--json]`: what a model is made of, and which layer rules apply. */
import type { Command } from "commander";

import { formatLayerList } from "../arch/layer-rules.js";
import { readGguf } from "../gguf/read.js";
import { summarizeModel, type ModelSummary } from "../gguf/summary.js";
import { pc } from "./colors.js";
import { action, formatBytes, formatCount, printJson } from "./common.js";
import { terminalSafe } from "./safe-text.js";

export function registerInspect(program: Command): void {
  program
    .command("inspect")
    .description("show a GGUF model's architecture, size, tensor types, per-block bytes, tokenizer and layer rules")
    .argument("<model>", "GGUF file")
    .option("--json", "print the summary as JSON (shape documented in the README)")
    .action(
      action(async (_ctx, model: string, flags: { json?: boolean }) => {
        const summary = summarizeModel(readGguf(model));
        if (flags.json) printJson(summary);
        else printSummary(summary);
      }),
    );
}

function printSummary(s: ModelSummary): void {
  const out: string[] = [];
  const row = (k: string, v: string) => out.push(`${pc.bold(k.padEnd(16))}${v}`);
  // Every string below comes from the file (or its name): shown with control characters escaped.
  const t = terminalSafe;
  row("file", `${t(s.path)} (${formatBytes(s.fileSize)}, GGUF v${s.ggufVersion})`);
  if (s.name) row("name", t(s.name));
  row("architecture", t(s.architecture));
  if (s.fileType) row("file type", t(s.fileType.name));
  row("blocks", `${s.blockCount}`);
  row("parameters", `${formatCount(s.parameters)} (${s.parameters.toLocaleString("en-US")})`);
  if (s.embeddingLength !== null) row("embedding", `${s.embeddingLength}`);
  if (s.contextLength !== null) row("context", `${s.contextLength}`);
  row("tokenizer", `${t(s.tokenizer.model ?? "none")}${s.tokenizer.pre ? ` / ${t(s.tokenizer.pre)}` : ""}${s.tokenizer.vocabSize ? `, ${s.tokenizer.vocabSize} tokens` : ""}`);
  row("tensors", `${s.tensorCount}`);
  for (const t of s.tensorTypes) {
    out.push(`  ${t.type.padEnd(8)} ${String(t.tensors).padStart(5)} tensors ${formatBytes(t.bytes).padStart(10)} ${(100 * t.share).toFixed(1).padStart(5)}%`);
  }
  const blockBytes = s.blocks.bytesPerBlock;
  if (blockBytes.length > 0) {
    const min = Math.min(...blockBytes);
    const max = Math.max(...blockBytes);
    const mean = blockBytes.reduce((a, b) => a + b, 0) / blockBytes.length;
    row("per block", min === max ? `${formatBytes(mean)} each` : `${formatBytes(min)} - ${formatBytes(max)} (mean ${formatBytes(mean)})`);
    row("outside blocks", formatBytes(s.blocks.nonBlockBytes));
  }
  row("layer rules", t(s.rules.notes[0] ?? ""));
  for (const note of s.rules.notes.slice(1)) out.push(`${" ".repeat(16)}${t(note)}`);
  if (s.shortgpt) row("pruned", `blocks ${formatLayerList(s.shortgpt.removedLayers)} of the original removed by shortgpt ${t(s.shortgpt.version ?? "")}`);
  process.stdout.write(`${out.join("\n")}\n`);
}
