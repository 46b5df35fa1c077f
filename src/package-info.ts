/**
 * Which shortgpt this is and where its files are. Both must stay right when an app bundles
 * shortgpt (vite/rollup `noExternal`, esbuild `bundle`): this code then runs from the app's
 * bundle, so a path computed from this file points into the app, whose package.json is not ours.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The package version. package.json is the source: `npm version` rewrites this line
 * (scripts/sync-version.mjs) and test/package-exports.test.ts fails when the two differ.
 * A constant, so a bundle carries it instead of reading whichever package.json is near.
 */
export const VERSION = "0.1.0";

/** The package name, as package.json spells it. */
export const PACKAGE_NAME = "shortgpt";

/**
 * The folder of this module's file: src/ or dist/ in the package, the bundle's folder in an
 * app. Null where the bundle has no file URL (esbuild's CommonJS output leaves import.meta empty).
 */
export const MODULE_DIR: string | null = (() => {
  const url: unknown = import.meta.url;
  return typeof url === "string" && url.startsWith("file:") ? dirname(fileURLToPath(url)) : null;
})();

/**
 * The package root (the folder with shortgpt's package.json, one above src/ or dist/), or null
 * when this code runs from an app's bundle. The name is checked so that a bundle never takes
 * the app's folder for ours.
 */
export const PACKAGE_ROOT: string | null = (() => {
  if (MODULE_DIR === null) return null;
  const root = join(MODULE_DIR, "..");
  try {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { name?: unknown };
    return pkg.name === PACKAGE_NAME ? root : null;
  } catch {
    return null;
  }
})();
