#!/usr/bin/env node
// Makes the prebuilt addon the npm package ships (`npm run prebuildify`):
// prebuilds/<platform>-<arch>/node.napi.node, the name both node-gyp-build (npm install, and
// shortgpt at run time) and @electron/rebuild look for, so neither compiles anything.
//
// On Linux x64 the compiler is `zig c++` (Zig from the PyPI package `ziglang`, pinned below,
// downloaded once into .cache/) targeting x86_64-linux-gnu.2.17, so the addon loads on any
// glibc from 2.17 on (RHEL/CentOS 7+, Ubuntu 14.04+, Debian 8+) and needs no libstdc++: Zig
// links LLVM's libc++ statically. A version script exports only the Node-API entry points, so
// that private C++ runtime can never be bound to (or bind to) the host's - Node's, Electron's.
// The build runs binding.gyp unchanged (the one source list; AVX2/AVX-512 files with their own
// ISA flags, chosen at run time) in a scratch copy, leaving build/ alone. The result is checked
// (glibc / libstdc++ symbol versions, exports, loading) before it is written.
// Elsewhere prebuildify builds with the system compiler.
//
// Options: --out DIR (default: the repository; the file goes to DIR/prebuilds/...), --jobs N.
// Each build is kept in .cache/prebuilds/<hash of its inputs>; a rerun with the same inputs copies it.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { checkLinuxPrebuild, findReadelf, NAPI_EXPORTS } from "./prebuild-check.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const ZIG = {
  requirement: "ziglang==0.15.2",
  // The manylinux x86_64 wheel's sha256 (pip checks it: --require-hashes).
  sha256: "806316453d1ede7174ed3fefb8e5348154629089c3bb5fe812dfd0e172fac130",
  target: "x86_64-linux-gnu.2.17",
};
// -ffp-contract=off: GCC's default in ISO C++ mode (-std=c++17), which the node-gyp build
// uses; clang would otherwise fuse a*b+c in the FMA-enabled files and round differently.
// -mevex512: Zig's clang needs it with -mavx512f to allow 512-bit vectors (plain clang implies
// it); alone it enables no instruction, so the portable files stay baseline x86-64.
const ZIG_CXXFLAGS = ["-ffp-contract=off", "-mevex512"];

const { values: args } = parseArgs({
  options: { out: { type: "string", default: root }, jobs: { type: "string", default: String(Math.max(1, Math.min(2, cpus().length))) } },
});
const cacheRoot = process.env.SHORTGPT_CACHE_DIR ?? join(root, ".cache");
const platformDir = `${process.platform}-${process.arch}`;
const useZig = process.platform === "linux" && process.arch === "x64";
const outFile = join(args.out, "prebuilds", platformDir, "node.napi.node");

function log(line) {
  console.error(`make-prebuild: ${line}`);
}

function filesUnder(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
}

/** Everything the binary depends on: sources, build files, this script, compiler and headers. */
function inputsKey() {
  const hash = createHash("sha256");
  const files = [join(root, "binding.gyp"), join(root, "scripts", "native-sources.cjs"), join(root, "scripts", "make-prebuild.mjs"), ...filesUnder(join(root, "native")).sort()];
  for (const file of files) hash.update(relative(root, file)).update("\0").update(readFileSync(file)).update("\0");
  const addonApi = JSON.parse(readFileSync(join(root, "node_modules", "node-addon-api", "package.json"), "utf8")).version;
  hash.update(JSON.stringify({ addonApi, node: process.versions.node, platformDir, zig: useZig ? [ZIG, ZIG_CXXFLAGS] : null }));
  return hash.digest("hex").slice(0, 16);
}

/** Zig from PyPI into the cache (pip, hash-checked; nothing is installed into a Python). */
function ensureZig() {
  const version = ZIG.requirement.split("==")[1];
  const target = join(cacheRoot, `ziglang-${version}`);
  const zig = join(target, "ziglang", "zig");
  if (existsSync(zig)) return zig;
  mkdirSync(cacheRoot, { recursive: true });
  const requirements = join(mkdtempSync(join(tmpdir(), "shortgpt-zig-")), "requirements.txt");
  writeFileSync(requirements, `${ZIG.requirement} --hash=sha256:${ZIG.sha256}\n`);
  log(`downloading ${ZIG.requirement} from PyPI into ${target} (93 MB)`);
  const partial = `${target}.partial`;
  rmSync(partial, { recursive: true, force: true });
  execFileSync(process.env.PYTHON ?? "python3", ["-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps", "--only-binary=:all:", "--require-hashes", "--target", partial, "-r", requirements], { stdio: "inherit" });
  renameSync(partial, target);
  return zig;
}

/** Node's headers: npm's nodedir setting, else the ones installed beside this node, else node-gyp downloads them. */
function nodeDir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const prefix = join(dirname(process.execPath), "..");
  return existsSync(join(prefix, "include", "node", "node_api.h")) ? prefix : undefined;
}

/** A scratch copy of what binding.gyp reads, so the build never touches the checkout's build/. */
function stageSources() {
  const stage = mkdtempSync(join(tmpdir(), "shortgpt-prebuild-"));
  copyFileSync(join(root, "binding.gyp"), join(stage, "binding.gyp"));
  cpSync(join(root, "native"), join(stage, "native"), { recursive: true });
  mkdirSync(join(stage, "scripts"));
  copyFileSync(join(root, "scripts", "native-sources.cjs"), join(stage, "scripts", "native-sources.cjs"));
  symlinkSync(join(root, "node_modules"), join(stage, "node_modules"), "dir");
  return stage;
}

function zigToolchain(stage, zig) {
  const bin = join(stage, ".zig-bin");
  mkdirSync(bin);
  const wrap = (name, command) => {
    writeFileSync(join(bin, name), `#!/bin/sh\nexec "${zig}" ${command} "$@"\n`);
    chmodSync(join(bin, name), 0o755);
    return join(bin, name);
  };
  const exportsMap = join(stage, "exports.map");
  writeFileSync(exportsMap, `{ global: ${NAPI_EXPORTS.join("; ")}; local: *; };\n`);
  return {
    CC: wrap("cc", `cc -target ${ZIG.target}`),
    CXX: wrap("c++", `c++ -target ${ZIG.target}`),
    AR: wrap("ar", "ar"),
    CXXFLAGS: ZIG_CXXFLAGS.join(" "),
    LDFLAGS: `-Wl,--version-script=${exportsMap} -s`,
    ZIG_GLOBAL_CACHE_DIR: join(cacheRoot, "zig-cache"),
    ZIG_LOCAL_CACHE_DIR: join(stage, ".zig-local"),
  };
}

function build() {
  const stage = stageSources();
  try {
    const env = { ...process.env, JOBS: args.jobs };
    const headers = nodeDir();
    if (headers) env.npm_config_nodedir = headers;
    if (useZig) Object.assign(env, zigToolchain(stage, ensureZig()));
    log(`building in ${stage} with ${useZig ? `zig c++ -target ${ZIG.target}` : "the system compiler"}, ${args.jobs} jobs`);
    const prebuildify = join(root, "node_modules", "prebuildify", "bin.js");
    // --name node.napi: prebuildify's file name is "<name>.node" (by default the package name).
    const flags = ["--napi", "--name", "node.napi", ...(useZig ? [] : ["--strip"])];
    const r = spawnSync(process.execPath, [prebuildify, ...flags, "."], { cwd: stage, env, stdio: "inherit" });
    if (r.status !== 0) throw new Error(`prebuildify failed (exit ${r.status})`);
    return readFileSync(join(stage, "prebuilds", platformDir, "node.napi.node"));
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

function main() {
  const key = inputsKey();
  const cached = join(cacheRoot, "prebuilds", `${platformDir}-${key}`, "node.napi.node");
  if (existsSync(cached)) {
    log(`inputs unchanged (${key}): using ${relative(root, cached) || cached}`);
  } else {
    const started = Date.now();
    const binary = build();
    mkdirSync(dirname(cached), { recursive: true });
    writeFileSync(`${cached}.partial`, binary);
    renameSync(`${cached}.partial`, cached);
    log(`built in ${((Date.now() - started) / 1000).toFixed(0)} s (${(binary.length / 1e6).toFixed(1)} MB)`);
  }
  if (useZig) {
    if (findReadelf()) {
      const { deps, problems } = checkLinuxPrebuild(cached);
      if (problems.length) throw new Error(`${cached}: ${problems.join("; ")}`);
      log(`checked: glibc ${deps.maxGlibc}+, no libstdc++, exports ${deps.exported.join(", ")}`);
    } else {
      log("readelf not found: symbol versions not checked");
    }
  }
  // It must load here, in this Node, and report the SIMD levels it carries.
  const probe = spawnSync(process.execPath, ["-e", `const m = { exports: {} }; process.dlopen(m, ${JSON.stringify(cached)}); console.log(JSON.stringify(m.exports.buildInfo().simd))`], { encoding: "utf8" });
  if (probe.status !== 0) throw new Error(`${cached} does not load: ${probe.stderr.trim()}`);
  log(`loads: simd ${probe.stdout.trim()}`);
  mkdirSync(dirname(outFile), { recursive: true });
  copyFileSync(cached, `${outFile}.partial`);
  renameSync(`${outFile}.partial`, outFile);
  log(`wrote ${outFile} (${(statSync(outFile).size / 1e6).toFixed(1)} MB)`);
}

try {
  main();
} catch (error) {
  log(`error: ${error.message}`);
  process.exit(1);
}
