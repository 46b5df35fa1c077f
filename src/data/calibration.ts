/**
 * Calibration input for scoring: text from files (.txt, .jsonl with a field,
 * `-` for stdin) or from the nlp-corpus package, tokenized once and cut into
 * ShortGPT windows: non-overlapping runs of `ctx` tokens, each an independent
 * sequence from position 0 (BOS first where the vocabulary adds BOS), at most
 * `maxWindows` of them spread evenly over the text.
 */
import { readFileSync } from "node:fs";
import { extname } from "node:path";

import { ShortgptError } from "../errors.js";
import { inputError } from "../files/file-errors.js";

export interface CalibrationText {
  readonly text: string;
  /** Where it came from, for reports. */
  readonly sources: readonly string[];
}

export interface ReadTextOptions {
  /** For .jsonl files: the field holding the text of each line. */
  field?: string;
  /** Reads stdin for `-` (injectable for tests). */
  readStdin?: () => string;
}

function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function readJsonl(path: string, raw: string, field: string | undefined): string[] {
  if (!field) {
    throw new ShortgptError("ERR_CALIBRATION_FIELD", `${path}: a .jsonl file needs --field NAME, the key holding each line's text`);
  }
  const out: string[] = [];
  raw.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === "") return;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch {
      throw new ShortgptError("ERR_CALIBRATION_JSON", `${path}:${i + 1}: not valid JSON`);
    }
    const value = obj && typeof obj === "object" ? (obj as Record<string, unknown>)[field] : undefined;
    if (typeof value !== "string") {
      throw new ShortgptError("ERR_CALIBRATION_FIELD", `${path}:${i + 1}: field '${field}' is ${value === undefined ? "missing" : `a ${typeof value}, not a string`}`);
    }
    out.push(value);
  });
  return out;
}

/** Reads and joins calibration text from files ('-' = stdin); documents are separated by a blank line. */
export function readCalibrationText(paths: readonly string[], options: ReadTextOptions = {}): CalibrationText {
  if (paths.length === 0) throw new ShortgptError("ERR_CALIBRATION_EMPTY", "no calibration text given");
  const parts: string[] = [];
  for (const path of paths) {
    let raw: string;
    try {
      raw = path === "-" ? (options.readStdin ?? (() => readFileSync(0, "utf8")))() : readFileSync(path, "utf8");
    } catch (error) {
      throw inputError(error, path === "-" ? "stdin" : path, "text");
    }
    raw = stripBom(raw);
    if (extname(path).toLowerCase() === ".jsonl") parts.push(...readJsonl(path, raw, options.field));
    else parts.push(raw);
  }
  return { text: parts.join("\n\n"), sources: paths.map((p) => (p === "-" ? "stdin" : p)) };
}

export interface WindowOptions {
  /** Tokens per window, BOS included. */
  ctx: number;
  /** Most windows to use (spread evenly over the text). */
  maxWindows: number;
  /** Token to start each window with, or null when the vocabulary adds none. */
  bos: number | null;
}

export interface CalibrationWindows {
  /** windows × ctx token ids, row-major. */
  readonly ids: Int32Array;
  readonly windows: number;
  readonly ctx: number;
  /** Text tokens available (before choosing windows). */
  readonly textTokens: number;
}

/**
 * Cuts `textIds` (the text tokenized once, without BOS) into windows of
 * `ctx` tokens. With a BOS each window is BOS + ctx−1 text tokens.
 */
export function calibrationWindows(textIds: ArrayLike<number>, options: WindowOptions): CalibrationWindows {
  const { ctx, maxWindows, bos } = options;
  if (!Number.isInteger(ctx) || ctx < 2) throw new ShortgptError("ERR_INVALID_ARG", `ctx must be an integer ≥ 2, got ${ctx}`);
  if (!Number.isInteger(maxWindows) || maxWindows < 1) throw new ShortgptError("ERR_INVALID_ARG", `windows must be a positive integer, got ${maxWindows}`);
  const body = bos === null ? ctx : ctx - 1;
  const available = Math.floor(textIds.length / body);
  if (available < 1) {
    throw new ShortgptError(
      "ERR_CALIBRATION_TOO_SHORT",
      `the calibration text gives ${textIds.length} tokens, fewer than one window of ${ctx}; give more text or a smaller --ctx`,
    );
  }
  const windows = Math.min(available, maxWindows);
  const ids = new Int32Array(windows * ctx);
  for (let w = 0; w < windows; w++) {
    // Evenly spread: window w takes slot floor(w * available / windows).
    const slot = Math.floor((w * available) / windows);
    let at = w * ctx;
    if (bos !== null) ids[at++] = bos;
    for (let k = 0; k < body; k++) ids[at + k] = textIds[slot * body + k]!;
  }
  return { ids, windows, ctx, textTokens: textIds.length };
}
