/**
 * Runs the built `shortgpt` CLI the way a user's shell would, with one
 * difference: the color environment is pinned. picocolors turns colors on
 * when CI, FORCE_COLOR or a TTY is present, so the same test saw plain text
 * locally and ANSI codes in CI; tests that read the text output run with
 * NO_COLOR=1 (and test colors explicitly where they matter).
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";

import { REPO_ROOT } from "./data.js";

export const CLI = join(REPO_ROOT, "dist", "cli", "main.js");

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  timeoutMs?: number;
  /** Extra environment; `color: true` asks for FORCE_COLOR=1 instead of NO_COLOR=1. */
  env?: Record<string, string>;
  color?: boolean;
  nodeArgs?: string[];
}

/** The environment the CLI runs in: the parent's, minus its color switches. */
export function cliEnv(options: Pick<CliOptions, "env" | "color"> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.FORCE_COLOR;
  delete env.NO_COLOR;
  if (options.color) env.FORCE_COLOR = "1";
  else env.NO_COLOR = "1";
  return { ...env, ...options.env };
}

export function runCli(args: string[], options: CliOptions = {}): CliResult {
  const r = spawnSync(process.execPath, [...(options.nodeArgs ?? []), CLI, ...args], {
    encoding: "utf8",
    timeout: options.timeoutMs ?? 120_000,
    env: cliEnv(options),
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
