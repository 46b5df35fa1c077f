/**
 * `npm test` typechecks the tests before running them: vitest strips types
 * without checking them, so a wrong type in a test (an option that does not
 * exist, a cast that hides a mismatch) would otherwise run and pass. This
 * checks that the `pretest` script runs the test project's typecheck, and
 * that the test project holds every file vitest runs and every helper.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

import ts from "typescript";
import { describe, expect, it } from "vitest";

import { REPO_ROOT } from "./helpers/data.js";

function filesUnder(dir: string, keep: (name: string) => boolean): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && keep(e.name))
    .map((e) => relative(REPO_ROOT, join(e.parentPath, e.name)));
}

describe("the test project is typechecked by npm test", () => {
  it("pretest runs tsc on the build project and on the test project", () => {
    const scripts = (JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts;
    const steps = scripts.pretest!.split("&&").map((s) => s.trim());
    expect(steps).toContain("tsc -p tsconfig.build.json");
    expect(steps).toContain("tsc -p tsconfig.test.json");
  });

  it("tsconfig.test.json holds every test file, helper and fixture, with the strict options of the source", () => {
    const configPath = join(REPO_ROOT, "tsconfig.test.json");
    const parsed = ts.parseJsonConfigFileContent(ts.readConfigFile(configPath, ts.sys.readFile).config, ts.sys, REPO_ROOT, undefined, configPath);
    expect(parsed.errors).toEqual([]);
    const inProject = new Set(parsed.fileNames.map((f) => relative(REPO_ROOT, f)));
    const testFiles = filesUnder(join(REPO_ROOT, "test"), (name) => name.endsWith(".ts"));
    expect(testFiles.length).toBeGreaterThan(40);
    expect(testFiles.filter((f) => !inProject.has(f))).toEqual([]);
    expect(parsed.options.strict).toBe(true);
    expect(parsed.options.noUncheckedIndexedAccess).toBe(true);
    expect(parsed.options.noEmit).toBe(true);
  });
});
