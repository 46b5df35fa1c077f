/**
 * shortgpt bundled into an app, as an Electron main process built with vite often is: a real
 * vite build (rolldown) with `ssr.noExternal: true`, so every line of shortgpt lands in the
 * app's one file, in both module formats such builds emit. The app has a package.json of its
 * own (another name and version): the bundle must still report shortgpt's VERSION, say clearly
 * that it cannot find the addon, and find it where the README tells bundler users to put it.
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { build } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import * as shortgpt from "../src/index.js";
import { REPO_ROOT, SMOLLM2_PATH } from "./helpers/data.js";
import { cjsConsumerSource, envWithoutAddonOverrides, esmConsumerSource, referenceReport, runConsumer, type ConsumerReport } from "./helpers/package-consumer.js";

const dir = mkdtempSync(join(tmpdir(), "shortgpt-bundle-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HOST_VERSION = "9.9.9";
const platformDir = `${process.platform}-${process.arch}`;
const devAddon = join(REPO_ROOT, "build", "Release", "shortgpt.node");

let reference: ConsumerReport;
beforeAll(async () => {
  reference = await referenceReport(shortgpt, SMOLLM2_PATH);
});

/**
 * Bundles an app whose entry uses shortgpt into app/out/<file>. "shortgpt" resolves as in an
 * installed app, through its exports to dist/ (built by npm test's pretest).
 */
async function bundleApp(name: string, format: "es" | "cjs"): Promise<{ app: string; bundle: string }> {
  const app = join(dir, name);
  mkdirSync(join(app, "node_modules"), { recursive: true });
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "host-app", version: HOST_VERSION, private: true }));
  // The package as installed: vite resolves "shortgpt" through its exports to dist/index.js.
  symlinkSync(REPO_ROOT, join(app, "node_modules", "shortgpt"), "dir");
  const entry = join(app, format === "es" ? "main.mjs" : "main.cjs");
  writeFileSync(entry, format === "es" ? esmConsumerSource() : cjsConsumerSource());
  const file = format === "es" ? "main.mjs" : "main.cjs";
  await build({
    configFile: false,
    root: app,
    logLevel: "silent",
    ssr: { noExternal: true, target: "node" },
    build: {
      ssr: entry,
      outDir: join(app, "out"),
      emptyOutDir: true,
      minify: false,
      rolldownOptions: { output: { format, entryFileNames: file } },
    },
  });
  // Really bundled: shortgpt's code is in the output (one file, or chunks beside it), and
  // nothing there imports the package at run time.
  const output = readdirSync(join(app, "out"), { recursive: true, encoding: "utf8" })
    .filter((f) => /\.[cm]?js$/.test(f))
    .map((f) => readFileSync(join(app, "out", f), "utf8"))
    .join("\n");
  expect(output).toContain("function openModel(");
  expect(output).not.toMatch(/from\s*["']shortgpt["']|require\(\s*["']shortgpt["']\s*\)|import\(\s*["']shortgpt["']\s*\)/);
  return { app, bundle: join(app, "out", file) };
}

describe.each([
  ["ES module", "es"],
  ["CommonJS", "cjs"],
] as const)("an app that bundles shortgpt (vite, noExternal, %s output)", (label, format) => {
  let app: string;
  let bundle: string;
  beforeAll(async () => {
    ({ app, bundle } = await bundleApp(`app-${format}`, format));
    // Unlink the package, as a packaged app has no node_modules/shortgpt beside its bundle.
    rmSync(join(app, "node_modules"), { recursive: true, force: true });
  }, 120_000);

  it("reports shortgpt's VERSION, not the host app's, and names what to do when the addon is not beside it", () => {
    const report = runConsumer(bundle, SMOLLM2_PATH, { cwd: app, env: envWithoutAddonOverrides() });
    expect(report.version).toBe(shortgpt.VERSION);
    expect(report.version).not.toBe(HOST_VERSION);
    expect(report.error?.code, label).toBe("ERR_ADDON_NOT_FOUND");
    expect(report.error?.message).toContain(join(app, "out", "prebuilds", platformDir, "node.napi.node"));
    expect(report.error?.message).toContain("SHORTGPT_ADDON_DIR");
  });

  it("runs a real model with SHORTGPT_ADDON_DIR pointing at a folder that holds the addon", () => {
    const addonDir = join(app, "native");
    mkdirSync(addonDir, { recursive: true });
    cpSync(devAddon, join(addonDir, "node.napi.node"));
    const report = runConsumer(bundle, SMOLLM2_PATH, { cwd: app, env: envWithoutAddonOverrides({ SHORTGPT_ADDON_DIR: addonDir }) });
    expect(report).toEqual(reference);
  });

  it("runs a real model with the package's prebuilds/ folder copied beside the bundle, no setting needed", () => {
    mkdirSync(join(app, "out", "prebuilds", platformDir), { recursive: true });
    cpSync(devAddon, join(app, "out", "prebuilds", platformDir, "node.napi.node"));
    const report = runConsumer(bundle, SMOLLM2_PATH, { cwd: app, env: envWithoutAddonOverrides() });
    expect(report).toEqual(reference);
  });
});
