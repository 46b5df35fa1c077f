/**
 * Whether the command line colors its output, decided once at start-up, in
 * this order: `--no-color` / `--color`, then NO_COLOR (set and not empty:
 * no colors, see no-color.org), then FORCE_COLOR (`0` or `false`: no colors,
 * anything else: colors), then whether stdout is a terminal (and TERM is not
 * `dumb`). picocolors' own rule turned FORCE_COLOR=0 into colors (any
 * non-empty value forced them) and colored every pipe whenever CI was set;
 * every command uses `pc` from here instead.
 */
import picocolors from "picocolors";

export function colorEnabled(
  argv: readonly string[] = process.argv,
  env: NodeJS.ProcessEnv = process.env,
  stdoutIsTerminal: boolean = Boolean(process.stdout.isTTY),
): boolean {
  // Only the options before a `--` are options.
  const end = argv.indexOf("--");
  const options = end >= 0 ? argv.slice(0, end) : argv;
  const lastFlag = Math.max(options.lastIndexOf("--color"), options.lastIndexOf("--no-color"));
  if (lastFlag >= 0) return options[lastFlag] === "--color";
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  const force = env.FORCE_COLOR;
  if (force !== undefined) return !(force === "0" || force.toLowerCase() === "false");
  return stdoutIsTerminal && env.TERM !== "dumb";
}

/** Colors on: the escape codes; off: every formatter returns its input. */
export const COLOR = colorEnabled();
export const pc = picocolors.createColors(COLOR);
