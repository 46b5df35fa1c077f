// Small statistics and measurement helpers shared by the bench suites.
import { spawn } from "node:child_process";

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

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

/**
 * Runs a command under `/usr/bin/time -v` when available and returns
 * { seconds, maxRssBytes, stdout }: peak RSS of that process alone.
 */
export function runMeasured(cmd, args, options = {}) {
  return new Promise((resolve, reject) => {
    const useTime = process.platform === "linux";
    const child = useTime
      ? spawn("/usr/bin/time", ["-v", cmd, ...args], { ...options, stdio: ["ignore", "pipe", "pipe"] })
      : spawn(cmd, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const started = performance.now();
    child.on("error", reject);
    child.on("close", (code) => {
      const seconds = (performance.now() - started) / 1000;
      if (code !== 0) return reject(new Error(`${cmd} ${args.join(" ")} exited ${code}: ${stderr.slice(-500)}`));
      const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
      resolve({ seconds, maxRssBytes: m ? Number(m[1]) * 1024 : undefined, stdout, stderr });
    });
  });
}
