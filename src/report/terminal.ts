/**
 * The terminal view of a scoring run: a table with a horizontal bar of BI
 * per block, the k most removable blocks marked. Colors only when asked
 * (the CLI asks when its color rule says so: src/cli/colors.ts).
 */
import picocolors from "picocolors";

import type { ScoreReport } from "../score/report-types.js";

export interface TerminalOptions {
  /** Blocks to mark (the ones planned for removal, or the k lowest). */
  readonly marked?: ReadonlySet<number>;
  readonly color?: boolean;
  readonly barWidth?: number;
}

export function renderScoreTable(scores: ScoreReport, options: TerminalOptions = {}): string {
  const color = options.color ?? false;
  const c = color ? picocolors.createColors(true) : { bold: (s: string) => s, dim: (s: string) => s, yellow: (s: string) => s, cyan: (s: string) => s };
  const width = options.barWidth ?? 36;
  const marked = options.marked ?? new Set<number>();
  const max = Math.max(1e-12, ...scores.layers.map((l) => (Number.isFinite(l.bi) ? l.bi : 0)));
  const rank = new Map(scores.order.map((b, i) => [b, i + 1]));
  const lines: string[] = [];
  lines.push(c.bold(`${"block".padStart(5)}  ${"BI".padStart(9)}  ${"angular".padStart(8)}  ${"rel.mag".padStart(8)}  ${"rank".padStart(4)}  Block Influence`));
  for (const l of scores.layers) {
    const cells = Math.round((Math.max(0, l.bi) / max) * width * 8);
    const bar = "█".repeat(Math.floor(cells / 8)) + (cells % 8 ? "▏▎▍▌▋▊▉"[(cells % 8) - 1]! : "");
    const isMarked = marked.has(l.index);
    const row = `${String(l.index).padStart(5)}  ${l.bi.toFixed(5).padStart(9)}  ${(l.angular === null ? "—" : l.angular.toFixed(4)).padStart(8)}  ${l.rm.toFixed(4).padStart(8)}  ${String(rank.get(l.index) ?? "").padStart(4)}  `;
    lines.push(isMarked ? c.yellow(`${row}${bar} ◀ remove`) : `${row}${c.cyan(bar)}`);
  }
  lines.push(
    c.dim(
      `${scores.windows} windows × ${scores.ctx} tokens (${scores.tokens.toLocaleString("en-US")} tokens); BI = 1 − mean cos(x_i, x_i+1); angular over ${scores.span} block(s), last position; lower = more removable`,
    ),
  );
  return lines.join("\n");
}
