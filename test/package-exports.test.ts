/**
 * How apps reach shortgpt: `import` and `require` of the built package (dist/, as `npm test`'s
 * pretest builds it) from a consumer project that links it, each in a child process running a
 * real model; the version a build reports; and which addon file is taken. The same package
 * installed from its tarball is test/package-install.test.ts; bundled, test/package-bundle.test.ts.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import * as shortgpt from "../src/index.js";
import { ADDON_DIR_ENV, CPU_ADDON, addonCandidates, loadAddon, locateAddon } from "../src/native-loader.js";
import { PACKAGE_ROOT, VERSION } from "../src/package-info.js";
import { REPO_ROOT, SMOLLM2_PATH } from "./helpers/data.js";
import { cjsConsumerSource, envWithoutAddonOverrides, esmConsumerSource, referenceReport, runConsumer, type ConsumerReport } from "./helpers/package-consumer.js";

const dir = mkdtempSync(join(tmpdir(), "shortgpt-exports-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const packageJson = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { name: string; version: string; license: string };

describe("the package's identity", () => {
  it("VERSION is package.json's version (scripts/sync-version.mjs keeps them equal on `npm version`)", () => {
    expect(VERSION).toBe(packageJson.version);
    expect(shortgpt.VERSION).toBe(packageJson.version);
  });

  it("PACKAGE_ROOT is this checkout: src/ sits one folder below a package.json named shortgpt", () => {
    expect(PACKAGE_ROOT).toBe(REPO_ROOT);
  });

  it("LICENSE is the MIT text package.json declares", () => {
    expect(packageJson.license).toBe("MIT");
    expect(readFileSync(join(REPO_ROOT, "LICENSE"), "utf8")).toMatch(/^MIT License\n[\s\S]*Permission is hereby granted, free of charge/);
  });
});

describe("consumers of the built package", () => {
  const project = join(dir, "consumer");
  let reference: ConsumerReport;

  beforeAll(async () => {
    expect(existsSync(join(REPO_ROOT, "dist", "index.js")), "dist/ is missing: run `npm run build` (npm test's pretest does)").toBe(true);
    // The package as an app sees it after `npm install`: node_modules/shortgpt.
    mkdirSync(join(project, "node_modules"), { recursive: true });
    symlinkSync(REPO_ROOT, join(project, "node_modules", "shortgpt"), "dir");
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", version: "9.9.9", private: true }));
    writeFileSync(join(project, "esm.mjs"), esmConsumerSource());
    writeFileSync(join(project, "cjs.cjs"), cjsConsumerSource());
    reference = await referenceReport(shortgpt, SMOLLM2_PATH);
  });

  it("an ES module consumer imports it and runs a real model", () => {
    const report = runConsumer(join(project, "esm.mjs"), SMOLLM2_PATH, { cwd: project, env: envWithoutAddonOverrides() });
    expect(report).toEqual(reference);
  });

  // Node runs require() of an ES module graph without top-level await from 20.19 / 22.12 on
  // (process.features.require_module); before the "default" export condition, require("shortgpt")
  // failed with ERR_PACKAGE_PATH_NOT_EXPORTED on every Node.
  const requireEsm = (process.features as { require_module?: boolean }).require_module === true;
  if (!requireEsm) console.warn(`[package-exports] Node ${process.version} cannot require() ES modules: the CommonJS consumer test is skipped`);
  it.skipIf(!requireEsm)("a CommonJS consumer requires it (no top-level await anywhere in its module graph) and runs a real model", () => {
    const report = runConsumer(join(project, "cjs.cjs"), SMOLLM2_PATH, { cwd: project, env: envWithoutAddonOverrides() });
    expect(report).toEqual(reference);
  });

  it.skipIf(!requireEsm)("require and import give the same module instance (one ShortgptError class, no dual-package copy)", () => {
    const script = `import { createRequire } from "node:module";
const esm = await import("shortgpt");
const cjs = createRequire(import.meta.url)("shortgpt");
console.log(JSON.stringify({ same: esm.ShortgptError === cjs.ShortgptError && esm.openModel === cjs.openModel }));`;
    writeFileSync(join(project, "both.mjs"), script);
    const r = spawnSync(process.execPath, [join(project, "both.mjs")], { cwd: project, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ same: true });
  });
});

describe("which addon file is loaded", () => {
  const platformDir = `${process.platform}-${process.arch}`;

  it("looks in build/Release first, then prebuilds/<platform>-<arch>/node.napi.node (node-gyp-build's order and names)", () => {
    expect(addonCandidates(CPU_ADDON, {}, "/pkg", null)).toEqual([
      join("/pkg", "build", "Release", "shortgpt.node"),
      join("/pkg", "prebuilds", platformDir, "node.napi.node"),
    ]);
    // Bundled (no package root): the bundle's own folder, laid out the same way.
    expect(addonCandidates(CPU_ADDON, {}, null, "/app/dist")).toEqual([
      join("/app/dist", "build", "Release", "shortgpt.node"),
      join("/app/dist", "prebuilds", platformDir, "node.napi.node"),
    ]);
  });

  it("takes each addon by its own file name: another .node file in build/Release (e.g. a CUDA build) is not the CPU addon", () => {
    const root = join(dir, "two-addons");
    mkdirSync(join(root, "build", "Release"), { recursive: true });
    mkdirSync(join(root, "prebuilds", platformDir), { recursive: true });
    writeFileSync(join(root, "build", "Release", "shortgpt_cuda.node"), "");
    copyFileSync(join(REPO_ROOT, "build", "Release", "shortgpt.node"), join(root, "prebuilds", platformDir, "node.napi.node"));
    const env = { [ADDON_DIR_ENV]: root };
    expect(locateAddon(CPU_ADDON, env)).toBe(join(root, "prebuilds", platformDir, "node.napi.node"));
    const loaded = loadAddon<{ buildInfo(): shortgpt.NativeBuildInfo }>(CPU_ADDON, env);
    expect(loaded.buildInfo().backends[0]).toBe("cpu");
  });

  it(`${ADDON_DIR_ENV} is the only place searched, and ERR_ADDON_NOT_FOUND names every path tried`, () => {
    const empty = join(dir, "empty");
    mkdirSync(empty);
    expect(() => locateAddon(CPU_ADDON, { [ADDON_DIR_ENV]: empty })).toThrow(
      expect.objectContaining({ code: "ERR_ADDON_NOT_FOUND", message: expect.stringContaining(join(empty, "prebuilds", platformDir, "node.napi.node")) }),
    );
  });

  it("a file that is not a loadable addon is ERR_ADDON_LOAD naming it, not a crash", () => {
    const bad = join(dir, "bad");
    mkdirSync(bad);
    writeFileSync(join(bad, "node.napi.node"), "not an ELF file");
    expect(() => loadAddon(CPU_ADDON, { [ADDON_DIR_ENV]: bad })).toThrow(
      expect.objectContaining({ code: "ERR_ADDON_LOAD", message: expect.stringContaining(join(bad, "node.napi.node")) }),
    );
  });
});
