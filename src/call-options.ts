/**
 * Checks of the options the long calls share ({ signal, onProgress, … }),
 * made before any work starts: a wrong type is an ERR_INVALID_ARG that names
 * the call and the option, instead of a TypeError from deep inside, a
 * callback that silently never runs, or a signal that is never listened to.
 */
import { ShortgptError } from "./errors.js";

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === "object") return `an object (${(value as object).constructor?.name ?? "no prototype"})`;
  return `${typeof value} ${String(value)}`;
}

/** ERR_INVALID_ARG: "<call>: options.<name> must be <expected>, got <what it was>". */
export function invalidOption(call: string, name: string, expected: string, value: unknown): ShortgptError {
  return new ShortgptError("ERR_INVALID_ARG", `${call}: options.${name} must be ${expected}, got ${describe(value)}`);
}

/**
 * An AbortSignal, or undefined. Duck-typed: a signal from another realm (an
 * Electron renderer, a vm context) is a real signal that fails `instanceof`.
 */
export function checkSignal(call: string, value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  const s = value as Partial<AbortSignal> | null;
  if (s === null || typeof s !== "object" || typeof s.aborted !== "boolean" || typeof s.addEventListener !== "function" || typeof s.removeEventListener !== "function") {
    throw invalidOption(call, "signal", "an AbortSignal", value);
  }
  return value as AbortSignal;
}

/** A function, or undefined/null (no callback). */
export function checkCallback(call: string, name: string, value: unknown): void {
  if (value !== undefined && value !== null && typeof value !== "function") throw invalidOption(call, name, "a function", value);
}

/** The options object itself (or undefined), its `signal` and the named callbacks. */
export function checkCallOptions(call: string, options: unknown, callbacks: readonly string[] = ["onProgress"]): void {
  if (options === undefined) return;
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw new ShortgptError("ERR_INVALID_ARG", `${call}: options must be an object, got ${describe(options)}`);
  }
  const o = options as Record<string, unknown>;
  checkSignal(call, o.signal);
  for (const name of callbacks) checkCallback(call, name, o[name]);
}
