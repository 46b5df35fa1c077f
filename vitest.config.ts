import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    // Native code and child processes: forks isolate a crash to one file.
    pool: "forks",
    testTimeout: 180_000,
    hookTimeout: 600_000,
    reporters: ["default"],
  },
});
