/**
 * The npm package end to end, as a user on another machine gets it: the Linux x64 prebuild made
 * by `npm run prebuildify` (scripts/make-prebuild.mjs: zig c++ for glibc 2.17; kept in .cache/
 * keyed by its inputs, so only a change to native code rebuilds it: about 3 CPU-minutes),
 * checked with readelf; the tarball `npm pack` makes from a clean copy of the checkout; and an
 * `npm install` of that tarball into a fresh project whose PATH holds nothing but node — no
 * compiler, make or python — followed by ES module and CommonJS consumers running a real model
 * and the CLI. A second install without the prebuild shows that PATH really cannot compile.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import * as shortgpt from "../src/index.js";
import { REPO_ROOT, SMOLLM2_PATH } from "./helpers/data.js";
import { cjsConsumerSource, envWithoutAddonOverrides, esmConsumerSource, referenceReport, runConsumer, type ConsumerReport } from "./helpers/package-consumer.js";
// @ts-expect-error: a plain .mjs script without type declarations
import { checkLinuxPrebuild, findReadelf, GLIBC_BASELINE } from "../scripts/prebuild-check.mjs";

const linuxX64 = process.platform === "linux" && process.arch === "x64";
if (!linuxX64) console.warn(`[package-install] skipped on ${process.platform}-${process.arch}: the prebuild recipe (zig, glibc ${GLIBC_BASELINE}) is for Linux x64`);

const work = mkdtempSync(join(tmpdir(), "shortgpt-install-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const PREBUILD = join("prebuilds", "linux-x64", "node.napi.node");

function run(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeout?: number }) {
  const r = spawnSync(command, args, { cwd: options.cwd, env: options.env ?? process.env, encoding: "utf8", timeout: options.timeout ?? 600_000, maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout ?? "", output: `${r.stdout ?? ""}\n${r.stderr ?? ""}${r.error ? `\n${r.error.message}` : ""}` };
}

/** npm's own entry script, so npm can run with a PATH that holds only node. */
function npmCli(): string {
  if (process.env.npm_execpath?.endsWith("npm-cli.js")) return process.env.npm_execpath;
  const which = spawnSync("sh", ["-c", "command -v npm"], { encoding: "utf8" }).stdout.trim();
  return realpathSync(which);
}

/**
 * A bin folder with node and sh and nothing else: what a machine without build tools offers
 * (npm runs install scripts through sh; no cc, c++, make or python).
 */
function nodeOnlyPath(): string {
  const bin = join(work, "node-only-bin");
  mkdirSync(bin, { recursive: true });
  symlinkSync(process.execPath, join(bin, "node"));
  symlinkSync(realpathSync("/bin/sh"), join(bin, "sh"));
  return bin;
}

/** A clean copy of the checkout (what git tracks or would track), built, with the prebuild; returns it. */
function stagePackage(): string {
  const stage = join(work, "stage");
  const files = run("git", ["ls-files", "--cached", "--others", "--exclude-standard", "-z"], { cwd: REPO_ROOT });
  expect(files.status, files.output).toBe(0);
  for (const file of files.stdout.split("\0").filter((f) => f && existsSync(join(REPO_ROOT, f)))) {
    mkdirSync(dirname(join(stage, file)), { recursive: true });
    copyFileSync(join(REPO_ROOT, file), join(stage, file));
  }
  // The TypeScript build needs the dev dependencies (typescript, @types/node).
  symlinkSync(join(REPO_ROOT, "node_modules"), join(stage, "node_modules"), "dir");
  const tsc = run(process.execPath, [join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", join(stage, "tsconfig.build.json")], { cwd: stage });
  expect(tsc.status, tsc.output).toBe(0);
  const prebuild = run(process.execPath, [join(REPO_ROOT, "scripts", "make-prebuild.mjs"), "--out", stage], { cwd: REPO_ROOT, timeout: 1_500_000 });
  expect(prebuild.status, prebuild.output.slice(-4000)).toBe(0);
  console.log(`[package-install] ${prebuild.output.split("\n").filter((l) => l.startsWith("make-prebuild:")).join("\n")}`);
  return stage;
}

interface PackResult {
  filename: string;
  files: { path: string; size: number }[];
}

function pack(stage: string, destination: string): PackResult {
  mkdirSync(destination, { recursive: true });
  // --ignore-scripts: dist/ is built above; prepack/prepare would rebuild it in place.
  const r = run(process.execPath, [npmCli(), "pack", "--ignore-scripts", "--json", "--pack-destination", destination], { cwd: stage });
  expect(r.status, r.output).toBe(0);
  const [result] = JSON.parse(r.stdout) as PackResult[];
  return { ...result!, filename: join(destination, result!.filename) };
}

/** `npm install <tarball>` into a new project, with PATH = node only. */
function installInto(project: string, tarball: string) {
  mkdirSync(project, { recursive: true });
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer-app", version: "9.9.9", private: true }));
  const env = envWithoutAddonOverrides({ PATH: nodeOnlyPathDir });
  for (const key of Object.keys(env)) if (/^npm_config_build_from_source$/i.test(key)) delete env[key];
  return run(process.execPath, [npmCli(), "install", tarball, "--prefer-offline", "--no-audit", "--no-fund", "--foreground-scripts"], { cwd: project, env });
}

let nodeOnlyPathDir = "";

describe.skipIf(!linuxX64)("the npm package, packed and installed on a machine without build tools", () => {
  let stage: string;
  let packed: PackResult;
  let project: string;
  let install: ReturnType<typeof run>;
  let reference: ConsumerReport;

  beforeAll(async () => {
    nodeOnlyPathDir = nodeOnlyPath();
    stage = stagePackage();
    packed = pack(stage, join(work, "tarballs"));
    project = join(work, "consumer");
    install = installInto(project, packed.filename);
    reference = await referenceReport(shortgpt, SMOLLM2_PATH);
  }, 1_800_000);

  it(`the prebuild needs glibc ≤ ${GLIBC_BASELINE} and no libstdc++, and exports only the Node-API entry points`, () => {
    if (!findReadelf()) {
      console.warn("[package-install] readelf (binutils) not found: symbol versions not checked");
      return;
    }
    const { deps, problems } = checkLinuxPrebuild(join(stage, PREBUILD));
    expect(problems).toEqual([]);
    console.log(`[package-install] prebuild: GLIBC_${deps.maxGlibc} at most, NEEDED ${deps.needed.join(" ")}, exports ${deps.exported.join(" ")}`);
    // The check itself refuses what the dev build (system g++, glibc 2.36 here) needs.
    const dev = checkLinuxPrebuild(join(REPO_ROOT, "build", "Release", "shortgpt.node"));
    expect(dev.problems.length).toBeGreaterThan(0);
  });

  it("the tarball holds the built code, the prebuild, the native sources and LICENSE, and no tests, maps, caches or build output", () => {
    const paths = packed.files.map((f) => f.path).sort();
    for (const required of ["LICENSE", "README.md", "package.json", "dist/index.js", "dist/index.d.ts", "dist/cli/main.js", "dist/native-loader.js", PREBUILD, "binding.gyp", "native/sources.json", "native/addon.cc", "scripts/native-sources.cjs"]) {
      expect(paths, required).toContain(required);
    }
    const unwanted = paths.filter((p) => /\.map$|\.tgz$|^(src|test|docs|\.ci|\.cache|build|node_modules)\/|^scripts\/bench|^tsconfig|^vitest/.test(p));
    expect(unwanted).toEqual([]);
    const mapped = paths.filter((p) => p.startsWith("dist/") && readFileSync(join(stage, p), "utf8").includes("sourceMappingURL"));
    expect(mapped).toEqual([]);
    console.log(`[package-install] tarball: ${paths.length} files, ${(packed.files.reduce((s, f) => s + f.size, 0) / 1e6).toFixed(1)} MB unpacked`);
  });

  it("npm install of the tarball succeeds with only node on PATH, and compiles nothing", () => {
    expect(install.status, install.output.slice(-4000)).toBe(0);
    const installed = join(project, "node_modules", "shortgpt");
    expect(existsSync(join(installed, PREBUILD))).toBe(true);
    expect(existsSync(join(installed, "build")), "the install compiled the addon instead of using the prebuild").toBe(false);
  });

  it("what @electron/rebuild reads to skip rebuilding is there: prebuildify among devDependencies and prebuilds/<platform>-<arch>/node.napi.node", () => {
    // @electron/rebuild (src/module-type/prebuildify.ts) treats a package as prebuildify-made
    // when its package.json lists prebuildify in devDependencies, and skips it when
    // node.napi.node (or electron.napi.node) is in prebuilds/<platform>-<arch>/. It cannot run
    // here (4.x needs Node 22.12; 3.x installs a dependency from GitHub), so its inputs are checked.
    const installed = join(project, "node_modules", "shortgpt");
    const pkg = JSON.parse(readFileSync(join(installed, "package.json"), "utf8")) as { devDependencies?: Record<string, string> };
    expect(pkg.devDependencies?.prebuildify).toBeDefined();
    expect(existsSync(join(installed, "prebuilds", "linux-x64", "node.napi.node"))).toBe(true);
  });

  it("an ES module and a CommonJS consumer run a real model on the prebuild, with the dev build's logits bit for bit", () => {
    const env = envWithoutAddonOverrides({ PATH: nodeOnlyPathDir });
    writeFileSync(join(project, "esm.mjs"), esmConsumerSource());
    writeFileSync(join(project, "cjs.cjs"), cjsConsumerSource());
    // Same sources and the same SIMD level on the same CPU; -ffp-contract=off makes clang round
    // like GCC: the two builds compute identical bits (checked on SmolLM2, Gemma 3 and
    // stories260K at scalar, AVX2 and AVX-512 when the prebuild recipe was made).
    expect(runConsumer(join(project, "esm.mjs"), SMOLLM2_PATH, { cwd: project, env })).toEqual(reference);
    expect(runConsumer(join(project, "cjs.cjs"), SMOLLM2_PATH, { cwd: project, env })).toEqual(reference);
    expect(reference.simd).toEqual(["scalar", "avx2", "avx512"]);
  });

  it("the installed CLI runs: shortgpt --version", () => {
    const r = run(join(project, "node_modules", ".bin", "shortgpt"), ["--version"], { cwd: project, env: envWithoutAddonOverrides({ PATH: nodeOnlyPathDir }) });
    expect(r.status, r.output).toBe(0);
    expect(r.output.trim()).toBe(shortgpt.VERSION);
  });

  it("the same install without the prebuild fails: nothing on that PATH can compile the addon", () => {
    renameSync(join(stage, "prebuilds"), join(stage, "prebuilds-aside"));
    try {
      const bare = pack(stage, join(work, "tarballs-bare"));
      expect(bare.files.some((f) => f.path.startsWith("prebuilds/"))).toBe(false);
      const r = installInto(join(work, "consumer-bare"), bare.filename);
      expect(r.status).not.toBe(0);
      // node-gyp-build found nothing to load and started node-gyp, which found no toolchain.
      expect(r.output).toMatch(/gyp ERR!/);
      console.log(`[package-install] without a prebuild: ${r.output.split("\n").filter((l) => /gyp ERR! (find|stack Error|configure error)/.test(l)).slice(0, 3).join(" | ")}`);
    } finally {
      renameSync(join(stage, "prebuilds-aside"), join(stage, "prebuilds"));
    }
  });
});
