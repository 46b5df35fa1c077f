import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    // Native code and child processes: forks isolate a crash to one file.
    pool: "forks",
    // Sized for a loaded 2-core machine, to catch hangs rather than slowness: the slowest tests
    // take 30-45 s with the suite's two workers on an otherwise idle 2-core machine and ~10× that
    // when other work shares it (measured at load average 16-21: shortgpt-claim's two scoring
    // tests 262 s and 291 s, build-variants 334 s, which sets its own longer limit).
    testTimeout: 600_000,
    hookTimeout: 600_000,
    reporters: ["default"],
  },
});
