/**
 * Paths to test data: the PyPI models (fetched by global-setup into the
 * cache) and ../shared/data (present in CI and on the team's machines, absent
 * in a stranger's clone: tests that need it skip with a visible reason).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { cachedModelPath } from "../../src/models/fetch.js";

/** The checkout: two folders above this file (test/helpers/). */
export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, "");

/** ../shared/data, relative to the repository, or undefined when absent. */
export const SHARED_DATA: string | undefined = (() => {
  const dir = join(REPO_ROOT, "..", "shared", "data");
  return existsSync(dir) ? dir : undefined;
})();

if (!SHARED_DATA) {
  console.warn("[shortgpt tests] ../shared/data is absent: tests that need it are skipped");
}

/** A file under ../shared/data (callers skip when SHARED_DATA is undefined). */
export function sharedData(relative: string): string {
  return join(SHARED_DATA ?? join(REPO_ROOT, "..", "shared", "data"), relative);
}

export const SMOLLM2_PATH = cachedModelPath("smollm2-135m");
export const GEMMA3_PATH = cachedModelPath("gemma3-270m");
export const STORIES_PATH = sharedData("models/stories260K.gguf");
