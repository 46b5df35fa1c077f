/**
 * Progress display: a cli-progress bar with rate and ETA on a terminal;
 * nothing at all when stdout is not a terminal (pipes and logs stay clean)
 * unless `lines` asks for sparse line-based updates on stderr.
 */
import { createRequire } from "node:module";

import type * as CliProgress from "cli-progress";

// Loaded on first use by a terminal: it costs ~30 ms at start-up, and piped runs never draw a bar.
const requireCjs = createRequire(import.meta.url);
let cliProgressModule: typeof CliProgress | undefined;
function cliProgress(): typeof CliProgress {
  cliProgressModule ??= requireCjs("cli-progress") as typeof CliProgress;
  return cliProgressModule;
}

export interface ProgressDisplay {
  /** Sets the total when it becomes known after the display started. */
  setTotal(total: number): void;
  update(done: number, detail?: Record<string, string | number>): void;
  stop(): void;
}

export interface ProgressOptions {
  /** Bar label, e.g. "writing". */
  label: string;
  total: number;
  /** How `done` reads: bytes get B/s, anything else unit/s. */
  unit: "bytes" | string;
  interactive: boolean;
  /** Without a TTY: print a line to stderr every this many percent (default: silent). */
  linesEveryPercent?: number;
}

function humanRate(perSecond: number, unit: string): string {
  if (unit !== "bytes") return `${perSecond.toFixed(perSecond >= 100 ? 0 : 1)} ${unit}/s`;
  const mb = perSecond / (1024 * 1024);
  return mb >= 1024 ? `${(mb / 1024).toFixed(2)} GiB/s` : `${mb.toFixed(0)} MiB/s`;
}

export function createProgress(options: ProgressOptions): ProgressDisplay {
  const started = performance.now();
  let total = options.total;
  const rate = (done: number) => humanRate(done / Math.max((performance.now() - started) / 1000, 1e-3), options.unit);
  if (!options.interactive) {
    const step = options.linesEveryPercent;
    if (!step) return { setTotal() {}, update() {}, stop() {} };
    let nextPercent = step;
    return {
      setTotal(n) {
        total = n;
      },
      update(done) {
        const percent = (100 * done) / Math.max(total, 1);
        if (percent >= nextPercent) {
          process.stderr.write(`${options.label}: ${percent.toFixed(0)}% (${rate(done)})\n`);
          while (nextPercent <= percent) nextPercent += step;
        }
      },
      stop() {},
    };
  }
  const bar = new (cliProgress().SingleBar)(
    {
      format: `${options.label} {bar} {percentage}% | {rate} | ETA {eta_formatted}{extra}`,
      hideCursor: true,
      clearOnComplete: true,
      stream: process.stderr,
      etaBuffer: 50,
      fps: 10,
    },
    cliProgress().Presets.shades_classic,
  );
  bar.start(options.total, 0, { rate: rate(0), extra: "" });
  return {
    setTotal(n) {
      bar.setTotal(n);
    },
    update(done, detail) {
      const extra = detail ? ` | ${Object.entries(detail).map(([k, v]) => `${k} ${v}`).join(" | ")}` : "";
      bar.update(done, { rate: rate(done), extra });
    },
    stop() {
      bar.stop();
    },
  };
}
