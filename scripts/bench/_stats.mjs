// Small statistics and measurement helpers shared by the bench suites. Spreads and the rule for
// when a comparison is too noisy to trust are the CLI's (src/cli/bench-stats.ts), so
// `shortgpt bench` and these suites judge their numbers the same way.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

export { compareTimes, formatComparison, formatRatio, MAX_TRUSTED_ROUND_SPREAD, median, spreadOf } from "../../dist/cli/bench-stats.js";
import { nodeChildEnv } from "../../dist/node-child.js";

/** Runs fn `runs` times (after `warmup` runs) and returns the timings in seconds. */
export async function timeRuns(fn, { runs = 5, warmup = 1 } = {}) {
  for (let i = 0; i < warmup; i++) await fn();
  const out = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    out.push((performance.now() - t) / 1000);
  }
  return out;
}

/** `cmd args` under `/usr/bin/time -v` where available (Linux), so its peak RSS can be read at exit. */
function spawnTimed(cmd, args, options, stdin) {
  const env = cmd === process.execPath ? nodeChildEnv(options.env) : options.env;
  const useTime = process.platform === "linux";
  return useTime
    ? spawn("/usr/bin/time", ["-v", cmd, ...args], { ...options, env, stdio: [stdin, "pipe", "pipe"] })
    : spawn(cmd, args, { ...options, env, stdio: [stdin, "pipe", "pipe"] });
}

function maxRssOf(stderr) {
  const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
  return m ? Number(m[1]) * 1024 : undefined;
}

/**
 * Runs a command under `/usr/bin/time -v` when available and returns
 * { seconds, maxRssBytes, stdout }: peak RSS of that process alone.
 */
export function runMeasured(cmd, args, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawnTimed(cmd, args, options, "ignore");
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const started = performance.now();
    child.on("error", reject);
    child.on("close", (code) => {
      const seconds = (performance.now() - started) / 1000;
      if (code !== 0) return reject(new Error(`${cmd} ${args.join(" ")} exited ${code}: ${stderr.slice(-500)}`));
      resolve({ seconds, maxRssBytes: maxRssOf(stderr), stdout, stderr });
    });
  });
}

/**
 * Starts a worker that stays alive between timed runs, so that the runs of the sides of a
 * comparison can interleave (round r runs each side once). It talks in lines: it prints one JSON
 * line when ready, then one per line it is sent; `finish()` closes its stdin, waits for its last
 * JSON line and its exit, and resolves to { last, maxRssBytes } (peak RSS of that process alone).
 */
export async function startWorker(cmd, args, options = {}) {
  const child = spawnTimed(cmd, args, options, "pipe");
  let stderr = "";
  child.stderr.on("data", (d) => (stderr = (stderr + d).slice(-8000)));
  const exited = new Promise((resolve) => child.on("close", resolve));
  child.on("error", () => {});
  child.stdin.on("error", () => {});
  const lines = createInterface({ input: child.stdout, crlfDelay: Infinity })[Symbol.asyncIterator]();
  const read = async () => {
    for (;;) {
      const next = await lines.next();
      if (next.done) throw new Error(`${cmd} ${args.join(" ")} exited ${await exited}: ${stderr.slice(-500)}`);
      if (next.value.startsWith("{")) return JSON.parse(next.value);
    }
  };
  const ready = await read();
  return {
    ready,
    request(line) {
      child.stdin.write(`${line}\n`);
      return read();
    },
    async finish() {
      child.stdin.end();
      const last = await read();
      await exited;
      return { last, maxRssBytes: maxRssOf(stderr) };
    },
    kill: () => child.kill(),
  };
}

/** A markdown paragraph listing the warnings of untrusted comparisons, or "" when there are none. */
export function warningsMarkdown(comparisons) {
  const warnings = comparisons.filter((c) => !c.trusted).map((c) => `- ⚠ ${c.warning}`);
  return warnings.length === 0 ? "" : ["**Too noisy to trust** (per-round ratios more than 25% apart; see src/cli/bench-stats.ts):", "", ...warnings].join("\n");
}
