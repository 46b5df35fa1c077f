#!/usr/bin/env node
// `npm run gpu-check:prepare`: packs what `npm run gpu-check` needs on a GPU machine that has
// no network, maybe no Node.js, and receives only the working tree plus a few named ignored
// folders (64 MiB in all), into one ignored folder, .gpu-check/:
//
//   pkg/            a runnable copy of the package: package.json, dist/ (no maps or types), the CPU
//                   addon (build/Release/shortgpt.node) and the CUDA addon
//                   (build-cuda/Release/shortgpt_cuda.node, built here for --arch); the check
//                   loads no npm package
//   node.xz         this Node.js binary, xz-compressed (scripts/gpu-check.sh unpacks it where
//                   there is no Node.js >= 20)
//   stories260K.gguf, calibration.txt   from ../shared/data when present (1 MB and 60 KB)
//   MANIFEST.json   what is inside, sizes, the commit
//
// Then it runs the check from a copy of the tree the way the GPU machine will (no Node.js on
// PATH, --cpu-only, the bundle's dist and addons) and prints the total size and the command.
//
//   node scripts/gpu-check-prepare.mjs [--arch 90] [--no-node] [--no-build] [--no-self-test]
//
// --arch: CUDA architectures for the addon (default 80,89,90: A100, L4/L40 and H100/H200 machine
// code, with PTX of the last; 90 alone builds faster). --no-build reuses build-gpu-check/cmake.
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values: args } = parseArgs({
  options: {
    arch: { type: "string", default: "80,89,90" },
    "no-node": { type: "boolean" },
    "no-build": { type: "boolean" },
    "no-self-test": { type: "boolean" },
  },
});
/** What travels must stay under the device machine's 64 MiB, with room for the tree itself. */
const LIMIT_BYTES = 60 * 2 ** 20;
const log = (line) => console.error(`gpu-check:prepare: ${line}`);
const MiB = (n) => `${(n / 2 ** 20).toFixed(1)} MiB`;

function run(cmd, argv, options = {}) {
  const r = spawnSync(cmd, argv, { cwd: repo, stdio: "inherit", ...options });
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(" ")} failed (${r.status ?? r.signal})`);
}

function sizeOf(path) {
  const st = statSync(path);
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((n, f) => n + sizeOf(join(path, f)), 0);
}

// 1. The TypeScript and both addons.
log("building dist/");
run(process.execPath, [join(repo, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"]);
const cpuAddon = join(repo, "build", "Release", "shortgpt.node");
if (!existsSync(cpuAddon)) throw new Error(`${cpuAddon} is missing: run npm install (or npx node-gyp rebuild) first`);
// cmake-js rebuild empties its folder: the CUDA build in build-gpu-check/cmake, the packed Node.js beside it.
const work = join(repo, "build-gpu-check");
const cudaBuild = join(work, "cmake");
const cudaAddon = join(cudaBuild, "Release", "shortgpt_cuda.node");
if (!args["no-build"] || !existsSync(cudaAddon)) {
  log(`building the CUDA addon for ${args.arch} into ${relative(repo, cudaBuild)}/`);
  run(process.execPath, [join(repo, "scripts", "build-cuda.mjs"), "--arch", args.arch, "--out", cudaBuild]);
}

// 2. The bundle.
const bundle = join(repo, ".gpu-check");
rmSync(bundle, { recursive: true, force: true });
const pkg = join(bundle, "pkg");
mkdirSync(join(pkg, "build", "Release"), { recursive: true });
mkdirSync(join(pkg, "build-cuda", "Release"), { recursive: true });
copyFileSync(join(repo, "package.json"), join(pkg, "package.json"));
cpSync(join(repo, "dist"), join(pkg, "dist"), { recursive: true, filter: (src) => !src.endsWith(".map") && !src.endsWith(".d.ts") });
copyFileSync(cpuAddon, join(pkg, "build", "Release", "shortgpt.node"));
copyFileSync(cudaAddon, join(pkg, "build-cuda", "Release", "shortgpt_cuda.node"));

const shared = join(repo, "..", "shared", "data");
if (existsSync(join(shared, "models", "stories260K.gguf"))) {
  copyFileSync(join(shared, "models", "stories260K.gguf"), join(bundle, "stories260K.gguf"));
  writeFileSync(join(bundle, "calibration.txt"), readFileSync(join(shared, "text", "pg", "pg11.txt"), "utf8").slice(0, 60_000));
} else {
  log("../shared/data is absent: the check will run without stories260K");
}

if (!args["no-node"]) {
  // xz of a 100 MB binary takes minutes on a busy machine: keep it beside the CUDA build.
  const cached = join(work, `node-${process.version}-${process.platform}-${process.arch}.xz`);
  if (!existsSync(cached)) {
    log(`compressing ${process.execPath} (${process.version}) with xz`);
    mkdirSync(work, { recursive: true });
    writeFileSync(`${cached}.tmp`, execFileSync("xz", ["-6", "-T0", "-c", process.execPath], { maxBuffer: 512 * 2 ** 20 }));
    cpSync(`${cached}.tmp`, cached);
    rmSync(`${cached}.tmp`);
  }
  copyFileSync(cached, join(bundle, "node.xz"));
}

const commit = spawnSync("git", ["rev-parse", "HEAD"], { cwd: repo, encoding: "utf8" }).stdout.trim();
const dirty = spawnSync("git", ["status", "--porcelain"], { cwd: repo, encoding: "utf8" }).stdout.trim() !== "";
const contents = Object.fromEntries(
  ["pkg/dist", "pkg/build/Release/shortgpt.node", "pkg/build-cuda/Release/shortgpt_cuda.node", "node.xz", "stories260K.gguf", "calibration.txt"]
    .filter((p) => existsSync(join(bundle, p)))
    .map((p) => [p, sizeOf(join(bundle, p))]),
);
writeFileSync(
  join(bundle, "MANIFEST.json"),
  `${JSON.stringify({ createdAt: new Date().toISOString(), commit, dirty, cudaArch: args.arch, node: args["no-node"] ? null : process.version, bytes: contents }, null, 2)}\n`,
);

// 3. What travels: the files git would send (tracked and untracked-not-ignored) plus the bundle.
const tree = spawnSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: repo, encoding: "utf8" })
  .stdout.split("\0")
  .filter((f) => f && existsSync(join(repo, f)));
const treeBytes = tree.reduce((n, f) => n + statSync(join(repo, f)).size, 0);
const bundleBytes = sizeOf(bundle);
for (const [p, n] of Object.entries(contents)) log(`  .gpu-check/${p}: ${MiB(n)}`);
log(`bundle ${MiB(bundleBytes)} + working tree ${MiB(treeBytes)} = ${MiB(bundleBytes + treeBytes)} (limit 64 MiB)`);
if (bundleBytes + treeBytes > LIMIT_BYTES) throw new Error(`too large to travel: ${MiB(bundleBytes + treeBytes)}; use fewer --arch or --no-node where the GPU machine has Node.js`);

// 4. The check from a copy of what travels, with no Node.js on PATH (as on the GPU machine).
if (!args["no-self-test"]) {
  const copy = mkdtempSync(join(tmpdir(), "shortgpt-gpu-check-travel-"));
  try {
    for (const f of tree) cpSync(join(repo, f), join(copy, f), { recursive: true });
    cpSync(bundle, join(copy, ".gpu-check"), { recursive: true });
    const bin = join(copy, ".bin");
    mkdirSync(bin);
    for (const tool of ["sh", "dirname", "xz", "python3", "chmod"]) {
      const found = spawnSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).stdout.trim();
      if (found) symlinkSync(found, join(bin, tool));
    }
    const env = { PATH: args["no-node"] ? `${bin}:${dirname(process.execPath)}` : bin, HOME: copy, TMPDIR: copy };
    log(`self-test in ${copy} (PATH without Node.js: ${!args["no-node"]})`);
    run("sh", ["scripts/gpu-check.sh", "--cpu-only", "--big", "none", "--out", join(copy, "out"), "--work", join(copy, "work")], { cwd: copy, env });
    const summary = JSON.parse(readFileSync(join(copy, "out", "gpu-check.json"), "utf8"));
    if (!summary.root.startsWith(join(copy, ".gpu-check"))) throw new Error(`the self-test ran ${summary.root}, not the bundle`);
    log(`self-test passed: ${summary.models.length} models checked from the bundle`);
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}

console.log(`ready: .gpu-check/ (${MiB(bundleBytes)}). On the GPU machine, from the repository root with .gpu-check carried:
  sh scripts/gpu-check.sh --out "$OUT"        (about 5 minutes; --time-limit SECONDS caps it, default 450)
then, here, with the gpu-check.json it wrote:
  node scripts/gpu-check.mjs --write-benchmarks path/to/gpu-check.json`);
