// What a Linux prebuild needs from the system that loads it, read with binutils' readelf: the
// libraries it links (NEEDED), the newest glibc / libstdc++ symbol versions it requires, the
// symbols it exports and the ones it leaves for the host process (Node-API) to provide; and the
// rules a shipped prebuild must meet. Used by scripts/make-prebuild.mjs before it writes a
// prebuild, and by test/package-install.test.ts.
import { spawnSync } from "node:child_process";

/** The oldest glibc the prebuild must load on, and what it may export. */
export const GLIBC_BASELINE = "2.17";
export const NAPI_EXPORTS = ["napi_register_module_v1", "node_api_module_get_api_version_v1"];
/** Libraries a prebuild may link: glibc's own. */
export const GLIBC_LIBRARIES = ["libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "ld-linux-x86-64.so.2"];

/** readelf's path, or null where binutils is missing. */
export function findReadelf() {
  const r = spawnSync("readelf", ["--version"], { stdio: "ignore" });
  return r.status === 0 ? "readelf" : null;
}

function readelf(args) {
  const r = spawnSync("readelf", ["-W", ...args], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`readelf ${args.join(" ")} failed: ${r.stderr || r.error}`);
  return r.stdout;
}

/** Compares dotted versions numerically ("2.17" < "2.3.4" is false). */
export function compareVersions(a, b) {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function newest(versions) {
  return versions.length === 0 ? null : [...versions].sort(compareVersions).at(-1);
}

/**
 * { needed: string[], versions: { GLIBC: string[], GLIBCXX: string[], CXXABI: string[], ... },
 *   maxGlibc, maxGlibcxx, exported: string[], undefinedUnversioned: string[] }
 */
export function elfDependencies(file) {
  const needed = [...readelf(["-d", file]).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  const versions = {};
  const exported = [];
  const undefinedUnversioned = [];
  // "  12: 0000000000000000     0 FUNC    GLOBAL DEFAULT  UND memcpy@GLIBC_2.14 (3)"
  for (const line of readelf(["--dyn-syms", file]).split("\n")) {
    const m = /^\s*\d+:\s+[0-9a-f]+\s+\d+\s+(\w+)\s+(\w+)\s+(\w+)\s+(\w+)\s+(\S+)/.exec(line);
    if (!m) continue;
    const [, type, bind, , ndx, name] = m;
    if (type === "NOTYPE" && bind === "LOCAL") continue;
    const [symbol, version] = name.split(/@+/);
    if (version) {
      const v = /^([A-Z]+)_([0-9.]+)$/.exec(version);
      if (v) (versions[v[1]] ??= new Set()).add(v[2]);
    }
    if (ndx === "UND") {
      if (!version && bind !== "WEAK") undefinedUnversioned.push(symbol);
    } else if (bind === "GLOBAL" || bind === "WEAK" || bind === "UNIQUE") {
      exported.push(symbol);
    }
  }
  const lists = Object.fromEntries(Object.entries(versions).map(([k, set]) => [k, [...set].sort(compareVersions)]));
  return {
    needed,
    versions: lists,
    maxGlibc: newest(lists.GLIBC ?? []),
    maxGlibcxx: newest(lists.GLIBCXX ?? []),
    exported: exported.sort(),
    undefinedUnversioned: undefinedUnversioned.sort(),
  };
}

/** Refuses a Linux prebuild that needs more than the baseline or exports more than Node-API's entry points. */
export function checkLinuxPrebuild(file) {
  const deps = elfDependencies(file);
  const problems = [];
  if (deps.maxGlibc && compareVersions(deps.maxGlibc, GLIBC_BASELINE) > 0) problems.push(`needs GLIBC_${deps.maxGlibc} (baseline ${GLIBC_BASELINE})`);
  for (const cxx of ["GLIBCXX", "CXXABI", "GCC"]) if (deps.versions[cxx]) problems.push(`needs ${cxx}_${deps.versions[cxx].at(-1)} (libstdc++/libgcc_s)`);
  const extra = deps.needed.filter((lib) => !GLIBC_LIBRARIES.includes(lib));
  if (extra.length) problems.push(`links ${extra.join(", ")}`);
  if (JSON.stringify(deps.exported) !== JSON.stringify([...NAPI_EXPORTS].sort())) problems.push(`exports ${deps.exported.length} symbols (${deps.exported.slice(0, 5).join(", ")}…), not only ${NAPI_EXPORTS.join(", ")}`);
  const foreign = deps.undefinedUnversioned.filter((s) => !/^(napi|node_api)_/.test(s));
  if (foreign.length) problems.push(`leaves ${foreign.join(", ")} to the host, which does not provide them`);
  return { deps, problems };
}

