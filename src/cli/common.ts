/**
 * What every command shares: running an action with the right exit code
 * (0 success, 1 refused or failed, 2 bad usage, 130 / 143 interrupted by
 * SIGINT / SIGTERM), those signals turned into an AbortSignal, `-` for
 * stdin and stdout, and output helpers that respect TTY vs pipe.
 */
import { readFileSync } from "node:fs";

import { Command, InvalidArgumentError } from "commander";

import { AbortError, errorCode } from "../errors.js";
import { fileErrorFromSystem } from "../files/file-errors.js";
import { COLOR, pc } from "./colors.js";
import { terminalSafeLines } from "./safe-text.js";

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
/** Conventional exit codes after a signal: 128 + its number. */
export const EXIT_INTERRUPTED = 130;
export const EXIT_TERMINATED = 143;
const EXIT_BY_SIGNAL: Record<string, number> = { SIGINT: EXIT_INTERRUPTED, SIGTERM: EXIT_TERMINATED };

/** A usage problem found after parsing (e.g. conflicting options): exit code 2. */
export class UsageError extends Error {
  readonly code = "ERR_USAGE";
}

export interface CommandContext {
  /** Fires on Ctrl-C (SIGINT) or SIGTERM. */
  signal: AbortSignal;
  /** stdout is a terminal: show progress bars. */
  interactive: boolean;
  /** Color the output (--color/--no-color, NO_COLOR, FORCE_COLOR, else a terminal): src/cli/colors.ts. */
  color: boolean;
}

/** The one-line form of every usage error: `shortgpt: error: … (see shortgpt <cmd> --help)`. */
export function usageLine(message: string, commandPath: string): string {
  return `${pc.red("shortgpt: error:")} ${message} ${pc.dim(`(see ${commandPath} --help)`)}\n`;
}

/** "shortgpt prune" for the prune command: the words a user types to reach it. */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

/**
 * Runs a command action: errors print one line on stderr (with the code) and
 * set exit code 1; UsageError sets 2 (and names the command's --help); an
 * abort by SIGINT or SIGTERM sets 130 or 143. Pending cleanup (temp files)
 * runs in the action's own finally blocks before exit.
 */
export function action<A extends unknown[]>(body: (ctx: CommandContext, ...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const controller = new AbortController();
    let received: NodeJS.Signals | undefined;
    const onSignal = (signal: NodeJS.Signals) => {
      received ??= signal;
      controller.abort(new AbortError(`interrupted by ${signal}`));
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    // Commander passes the command itself last.
    const command = args[args.length - 1] instanceof Command ? (args[args.length - 1] as Command) : undefined;
    try {
      await body({ signal: controller.signal, interactive: Boolean(process.stdout.isTTY), color: COLOR }, ...args);
    } catch (error) {
      process.exitCode = reportError(error, received, command);
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
  };
}

function reportError(error: unknown, signal: NodeJS.Signals | undefined, command: Command | undefined): number {
  if (signal || error instanceof AbortError) {
    process.stderr.write(`shortgpt: interrupted${signal ? ` by ${signal}` : ""}; nothing was written\n`);
    return EXIT_BY_SIGNAL[signal ?? "SIGINT"]!;
  }
  error = fileErrorFromSystem(error);
  // Messages quote metadata keys, names and paths from files: no escape sequences reach the terminal.
  const message = terminalSafeLines(error instanceof Error ? error.message : String(error));
  if (error instanceof UsageError) {
    process.stderr.write(usageLine(message, command ? commandPath(command) : "shortgpt"));
    return EXIT_USAGE;
  }
  const code = errorCode(error);
  process.stderr.write(`${pc.red("shortgpt: error:")} ${message}${code ? pc.dim(` [${code}]`) : ""}\n`);
  if (process.env.SHORTGPT_DEBUG && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  return EXIT_FAILED;
}

/**
 * Standard input can be read once: at most one of the given inputs may be
 * `-`. Each entry is [flag, value(s)] as parsed.
 */
export function checkStdinOnce(inputs: readonly [string, string | readonly string[] | undefined][]): void {
  const readers = inputs.flatMap(([flag, value]) => (value === undefined ? [] : (typeof value === "string" ? [value] : value).filter((v) => v === "-").map(() => flag)));
  if (readers.length > 1) {
    const flags = [...new Set(readers)];
    throw new UsageError(`standard input can be read only once, but ${flags.length === 1 ? `${flags[0]} gives '-' ${readers.length} times` : `${flags.join(" and ")} both ask for '-'`}`);
  }
}

/** The text of a file, or of standard input for `-`. */
export function readTextInput(path: string): string {
  return readFileSync(path === "-" ? 0 : path, "utf8");
}

/**
 * Outputs that must be files (renamed into place, or HTML beside other
 * output) refuse `-`, which would otherwise create a file named "-".
 */
export function refuseStdout(flag: string, value: string | undefined, why: string): void {
  if (value === "-") throw new UsageError(`${flag} - is not possible: ${why}; give a file name`);
}

/** Option parser for positive integers (commander calls it with the raw text). */
export function positiveInt(name: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return n;
  };
}

/** Option parser for non-negative integers. */
export function nonNegativeInt(name: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
    return n;
  };
}

/** Prints one JSON document on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[u]}`;
}

export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} K`;
  return `${n}`;
}
