#!/usr/bin/env node
/** The `shortgpt` command line: one file per command, registered here. */
import { Command, CommanderError } from "commander";

import { VERSION } from "../package-info.js";
import { registerBench } from "./bench.js";
import { commandPath, EXIT_USAGE, usageLine } from "./common.js";
import { registerDemo } from "./demo.js";
import { registerEval } from "./eval.js";
import { registerInspect } from "./inspect.js";
import { registerPrune } from "./prune.js";
import { registerScore } from "./score.js";
import { registerTokenize } from "./tokenize.js";

// A reader that stops early (`shortgpt tokenize … | head`) closes the pipe: the rest of the
// output has nowhere to go, but the command still finishes its work (a prune still renames its
// output into place or removes its temp file), so swallow the pipe error instead of crashing.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code !== "EPIPE" && error.code !== "ERR_STREAM_DESTROYED") throw error;
});

const COMMANDS: ((program: Command) => void)[] = [registerScore, registerPrune, registerEval, registerInspect, registerTokenize, registerBench, registerDemo];

const program = new Command("shortgpt")
  .description("find and remove the redundant layers of GGUF language models (ShortGPT Block Influence)")
  .version(VERSION)
  // Read by src/cli/colors.ts before parsing (colors are decided at start-up); declared so commander accepts them.
  .option("--color", "color the output even when it is not a terminal")
  .option("--no-color", "never color the output (also: NO_COLOR=1 or FORCE_COLOR=0)")
  .exitOverride();
for (const register of COMMANDS) register(program);

// A usage error is one line naming the command's --help, not the whole help text.
const oneLineUsageErrors = (command: Command): void => {
  command.configureOutput({
    outputError: (text, write) => write(usageLine(text.trim().replace(/^error: /, ""), commandPath(command))),
  });
  command.commands.forEach(oneLineUsageErrors);
};
oneLineUsageErrors(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // --help and --version end with exit code 0; usage errors with 2.
    process.exitCode = error.exitCode === 0 ? 0 : EXIT_USAGE;
  } else {
    throw error;
  }
}
