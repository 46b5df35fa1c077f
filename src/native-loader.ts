/**
 * Finds a native addon file and loads it. The search order is node-gyp-build's, which
 * `npm install` uses to decide whether to compile: a local build in build/Release (node-gyp,
 * cmake-js and @electron/rebuild write there) wins over the prebuild shipped in
 * prebuilds/<platform>-<arch>/. Each addon is looked up by its own file name, so a second
 * addon (e.g. a CUDA build) can sit beside the first without being taken for it.
 *
 * Loading goes through process.dlopen rather than require: bundlers rewrite require calls,
 * never process.dlopen, and Electron's asar support covers it.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";

import { ShortgptError } from "./errors.js";
import { MODULE_DIR, PACKAGE_ROOT } from "./package-info.js";

/** An addon's file names: what a build writes into its build folder, and its name under prebuilds/. */
export interface AddonFile {
  readonly built: string;
  /** `node.napi.node` is the name both node-gyp-build and @electron/rebuild look for. */
  readonly prebuilt: string;
  /** Where its local build lands, relative to the package (default build/Release). */
  readonly buildDir?: string;
}

/** The CPU addon (binding.gyp's target; `npm run prebuild` makes the prebuild). */
export const CPU_ADDON: AddonFile = { built: "shortgpt.node", prebuilt: "node.napi.node" };

/**
 * The CUDA addon (CMakeLists.txt with -DSHORTGPT_CUDA=ON, `npm run build:cuda`). Kept out of
 * build/Release, where `npm install`'s node-gyp-build would take any .node file for a built CPU
 * addon, and in a folder of its own under prebuilds/<platform>-<arch>/, which node-gyp-build and
 * @electron/rebuild never enter.
 */
export const CUDA_ADDON: AddonFile = { built: "shortgpt_cuda.node", prebuilt: join("cuda", "shortgpt_cuda.node"), buildDir: join("build-cuda", "Release") };

/** Folder to search instead of the package (for apps that bundle shortgpt; see the README). */
export const ADDON_DIR_ENV = "SHORTGPT_ADDON_DIR";

/**
 * The paths tried for `file`, in order. With $SHORTGPT_ADDON_DIR only that folder (the file
 * itself, or the package layout inside it); else the package root; else, when shortgpt is
 * bundled, the bundle's own folder laid out like the package (its prebuilds/ copied there).
 */
export function addonCandidates(
  file: AddonFile,
  env: NodeJS.ProcessEnv = process.env,
  packageRoot: string | null = PACKAGE_ROOT,
  moduleDir: string | null = MODULE_DIR,
): string[] {
  const platformDir = `${process.platform}-${process.arch}`;
  const packageLayout = (dir: string) => [join(dir, file.buildDir ?? join("build", "Release"), file.built), join(dir, "prebuilds", platformDir, file.prebuilt)];
  const override = env[ADDON_DIR_ENV];
  if (override) return [join(override, file.built), join(override, file.prebuilt), ...packageLayout(override)];
  if (packageRoot !== null) return packageLayout(packageRoot);
  return moduleDir !== null ? packageLayout(moduleDir) : [];
}

/** The first existing candidate; ERR_ADDON_NOT_FOUND names every place it looked. */
export function locateAddon(file: AddonFile, env: NodeJS.ProcessEnv = process.env): string {
  const candidates = addonCandidates(file, env);
  const found = candidates.find((path) => existsSync(path));
  if (found) return found;
  const where = env[ADDON_DIR_ENV] ? `${ADDON_DIR_ENV}=${env[ADDON_DIR_ENV]}` : PACKAGE_ROOT !== null ? "the shortgpt package" : "this bundle's folder";
  throw new ShortgptError(
    "ERR_ADDON_NOT_FOUND",
    `shortgpt's native addon (${file.built} or prebuilds/${process.platform}-${process.arch}/${file.prebuilt}) is not in ${where}; ` +
      `looked for: ${candidates.join(", ") || "(no file location known)"}. ` +
      `In the package, run \`npm rebuild shortgpt\` to compile it; when shortgpt is bundled into an app, keep it external ` +
      `or set ${ADDON_DIR_ENV} to a folder holding a copy of its prebuilds/ (see "Bundlers" in the README).`,
  );
}

/** Loads the addon `file` (located as above); ERR_ADDON_LOAD says which file failed and why. */
export function loadAddon<T>(file: AddonFile, env: NodeJS.ProcessEnv = process.env): T {
  return loadAddonAt<T>(locateAddon(file, env));
}

/** Loads the addon at `path`; ERR_ADDON_LOAD says which file failed and why. */
export function loadAddonAt<T>(path: string): T {
  const module = { exports: {} as T };
  try {
    process.dlopen(module, path);
  } catch (error) {
    throw new ShortgptError("ERR_ADDON_LOAD", `cannot load shortgpt's native addon ${path}: ${(error as Error).message}`, { cause: error });
  }
  return module.exports;
}
