/**
 * `shortgpt tokenize <model.gguf> (--text FILE | --string S)`: the token ids
 * of a text with the model's own vocabulary, printed like llama.cpp's
 * llama-tokenize, so calibration and evaluation text can be checked.
 */
import { readFileSync } from "node:fs";

import type { Command } from "commander";

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

        if (flags.json) {
          process.stdout.write(`${JSON.stringify({ ids, count: ids.length })}\n`);
          return;
        }
        const chunks: Buffer[] = [];
        if (flags.ids) {
          chunks.push(Buffer.from(`[${ids.join(", ")}]\n`));
        } else {
          for (const id of ids) {
            chunks.push(Buffer.from(`${String(id).padStart(6)} -> '`), Buffer.from(tokenizer.tokenPiece(id, true)), QUOTE_NEWLINE);
          }
        }
        if (flags.showCount) chunks.push(Buffer.from(`Total number of tokens: ${ids.length}\n`));
        process.stdout.write(Buffer.concat(chunks));
      }),
    );
}

const QUOTE_NEWLINE = Buffer.from("'\n");
