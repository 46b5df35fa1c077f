/**
 * What every command shares: running an action with the right exit code
 * (0 success, 1 refused or failed, 2 bad usage), Ctrl-C turned into an
 * AbortSignal, and output helpers that respect TTY vs pipe.
 */
import { InvalidArgumentError } from "commander";
import pc from "picocolors";

import { AbortError, errorCode } from "../errors.js";
import { fileErrorFromSystem } from "../files/file-errors.js";
import { terminalSafeLines } from "./safe-text.js";

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
/** Conventional exit code after SIGINT (128 + 2). */
export const EXIT_INTERRUPTED = 130;

/** A usage problem found after parsing (e.g. conflicting options): exit code 2. */
export class UsageError extends Error {
  readonly code = "ERR_USAGE";
}

export interface CommandContext {
  /** Fires on Ctrl-C (SIGINT) or SIGTERM. */
  signal: AbortSignal;
  /** stdout is a terminal: show progress bars and colors. */
  interactive: boolean;
}

/**
 * Runs a command action: errors print one line on stderr (with the code) and
 * set exit code 1; UsageError sets 2; an abort by Ctrl-C sets 130. Pending
 * cleanup (temp files) runs in the action's own finally blocks before exit.
 */
export function action<A extends unknown[]>(body: (ctx: CommandContext, ...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const controller = new AbortController();
    const onSignal = () => controller.abort();
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    try {
      await body({ signal: controller.signal, interactive: Boolean(process.stdout.isTTY) }, ...args);
    } catch (error) {
      process.exitCode = reportError(error, controller.signal.aborted);
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
  };
}

function reportError(error: unknown, interrupted: boolean): number {
  if (error instanceof AbortError || (interrupted && errorCode(error) === "ABORT_ERR")) {
    process.stderr.write("shortgpt: interrupted; nothing was written\n");
    return EXIT_INTERRUPTED;
  }
  error = fileErrorFromSystem(error);
  // Messages quote metadata keys, names and paths from files: no escape sequences reach the terminal.
  const message = terminalSafeLines(error instanceof Error ? error.message : String(error));
  const code = errorCode(error);
  process.stderr.write(`${pc.red("shortgpt: error:")} ${message}${code ? pc.dim(` [${code}]`) : ""}\n`);
  if (process.env.SHORTGPT_DEBUG && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  return error instanceof UsageError ? EXIT_USAGE : EXIT_FAILED;
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
