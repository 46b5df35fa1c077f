/**
 * Children started with process.execPath inside an Electron app: there process.execPath is the
 * app's binary, which runs a script as plain Node.js only with ELECTRON_RUN_AS_NODE=1 in its
 * environment (otherwise it opens a second copy of the app). Electron is simulated the way the
 * code detects it (process.versions.electron); the children here are real processes.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import { nodeChildEnv, spawnNode } from "../src/node-child.js";
import { REPO_ROOT } from "./helpers/data.js";

function simulateElectron(): void {
  Object.defineProperty(process.versions, "electron", { value: "33.0.0", configurable: true, enumerable: true });
}

afterEach(() => {
  delete (process.versions as Record<string, string | undefined>).electron;
});

/** What a child started by spawnNode sees as ELECTRON_RUN_AS_NODE ("" when unset). */
async function childSees(env?: NodeJS.ProcessEnv): Promise<string> {
  const child = spawnNode("-e", ['process.stdout.write(process.env.ELECTRON_RUN_AS_NODE ?? "")'], { stdio: ["ignore", "pipe", "inherit"], env });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  expect(code).toBe(0);
  return out;
}

describe("nodeChildEnv", () => {
  it("adds ELECTRON_RUN_AS_NODE=1 under Electron only, and keeps everything else", () => {
    const base = { PATH: "/usr/bin", SHORTGPT_SIMD: "avx2" };
    expect(process.versions.electron).toBeUndefined();
    expect(nodeChildEnv(base)).toEqual(base);
    simulateElectron();
    expect(nodeChildEnv(base)).toEqual({ ...base, ELECTRON_RUN_AS_NODE: "1" });
    expect(base).not.toHaveProperty("ELECTRON_RUN_AS_NODE"); // a copy, not the caller's object
    expect(nodeChildEnv().PATH).toBe(process.env.PATH); // default: this process's environment
  });
});

describe("spawnNode", () => {
  it("the child gets ELECTRON_RUN_AS_NODE=1 under Electron, with the environment it was given", async () => {
    const env = { ...process.env };
    delete env.ELECTRON_RUN_AS_NODE;
    expect(await childSees(env)).toBe("");
    simulateElectron();
    expect(await childSees(env)).toBe("1");
  });

  it("is how src/ starts every child with process.execPath", () => {
    // Any other spawn/fork/exec of process.execPath would start a second Electron app.
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (/\.[cm]?ts$/.test(entry.name) && !path.endsWith("node-child.ts")) {
          const text = readFileSync(path, "utf8");
          if (/process\.execPath/.test(text) || /\bfork\s*\(/.test(text)) offenders.push(relative(REPO_ROOT, path));
        }
      }
    };
    walk(join(REPO_ROOT, "src"));
    expect(offenders).toEqual([]);
  });

});
