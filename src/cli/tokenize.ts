/**
 * `shortgpt tokenize <model.gguf> (--text FILE | --string S)`: the token ids
 * of a text with the model's own vocabulary, printed like llama.cpp's
 * llama-tokenize, so calibration and evaluation text can be checked.
 */
import { readFileSync } from "node:fs";

import type { Command } from "commander";

import { ChunkedOutput } from "./chunked-output.js";
import { action, UsageError } from "./common.js";

interface TokenizeFlags {
  text?: string;
  string?: string;
  special: boolean;
  parseSpecial: boolean;
  ids?: boolean;
  showCount?: boolean;
  json?: boolean;
}

export function registerTokenize(program: Command): void {
  program
    .command("tokenize")
    .description("print the token ids of a text with a GGUF model's vocabulary (llama.cpp's tokenization, token for token)")
    .argument("<model>", "GGUF file (only its vocabulary is read)")
    .option("--text <file>", "tokenize this file's bytes, exactly as they are ('-' reads standard input)")
    .option("--string <text>", "tokenize this string")
    .option("--no-special", "do not add BOS/EOS, even where the vocabulary asks for them")
    .option("--no-parse-special", "keep control-token text such as <|im_end|> as plain text")
    .option("--ids", "print only the ids, as a list: [1, 2, 3]")
    .option("--show-count", "print the number of tokens at the end")
    .option("--json", "print one JSON object: { ids, count }")
    .addHelpText(
      "after",
      `
Without --ids or --json, each token is printed as llama-tokenize prints it:
  id -> 'piece'

Examples:
  shortgpt tokenize model.gguf --string "Hello world"
  shortgpt tokenize model.gguf --text calibration.txt --ids --no-special
  shortgpt tokenize model.gguf --text - --json < prompt.txt`,
    )
    .action(
      action(async (_ctx, model: string, flags: TokenizeFlags) => {
        if ((flags.text === undefined) === (flags.string === undefined)) {
          throw new UsageError("tokenize needs exactly one of --text FILE or --string S");
        }
        const input: string | Uint8Array = flags.string ?? readFileSync(flags.text === "-" ? 0 : flags.text!);
        const { loadTokenizer } = await import("../tokenizer/index.js");
        const tokenizer = loadTokenizer(model);
        const ids = tokenizer.encode(input, { addSpecial: flags.special, parseSpecial: flags.parseSpecial });
        await printTokens(ids, flags, (id) => tokenizer.tokenPiece(id, true));
      }),
    );
}

/** Ids per batch between waits for stdout to drain. */
const BATCH = 4096;

/**
 * Streams the ids to stdout in the chosen format (see ChunkedOutput: the output of a large text is
 * several times its size, and used to be built whole in memory first). Stops when the reader goes.
 */
async function printTokens(ids: readonly number[], flags: TokenizeFlags, pieceOf: (id: number) => Uint8Array): Promise<void> {
  const out = new ChunkedOutput(process.stdout);
  // The --json text is JSON.stringify's ({"ids":[1,2],"count":2}), written a batch at a time.
  out.put(flags.json ? '{"ids":[' : flags.ids ? "[" : "");
  for (let start = 0; start < ids.length; start += BATCH) {
    const end = Math.min(ids.length, start + BATCH);
    for (let i = start; i < end; i++) {
      const id = ids[i]!;
      if (flags.json || flags.ids) {
        out.put(i === 0 ? String(id) : `${flags.json ? "," : ", "}${id}`);
      } else {
        out.put(`${String(id).padStart(6)} -> '`);
        out.put(pieceOf(id));
        out.put("'\n");
      }
    }
    if (!(await out.ready())) return;
  }
  if (flags.json) out.put(`],"count":${ids.length}}\n`);
  else if (flags.ids) out.put("]\n");
  if (flags.showCount && !flags.json) out.put(`Total number of tokens: ${ids.length}\n`);
  await out.finish();
}
