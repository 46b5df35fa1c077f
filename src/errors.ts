/**
 * Every failure shortgpt reports on purpose is a ShortgptError with a stable
 * `code` (ERR_GGUF_*, ERR_PRUNE_*, ERR_UNSUPPORTED_*, ...), so callers can
 * branch on the code instead of parsing messages. Native errors arrive as
 * plain Errors with the same kind of `code`.
 */
export class ShortgptError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ShortgptError";
    this.code = code;
  }
}

/** A GGUF file that is malformed or outside the limits we accept. */
export class GgufError extends ShortgptError {
  /** The file the error is about. */
  readonly path: string | undefined;
  /** Byte offset in the file where the problem was found, when known. */
  readonly offset: number | undefined;

  constructor(code: string, message: string, details: { path?: string; offset?: number } = {}) {
    const where = [details.path, details.offset !== undefined ? `at byte ${details.offset}` : undefined]
      .filter(Boolean)
      .join(" ");
    super(code, where ? `${where}: ${message}` : message);
    this.name = "GgufError";
    this.path = details.path;
    this.offset = details.offset;
  }
}

/**
 * Thrown (or used to reject) when an operation is cancelled through an
 * AbortSignal. Like Node's own AbortError, `cause` is the signal's reason
 * (what was passed to `controller.abort(reason)`, else a DOMException).
 */
export class AbortError extends Error {
  readonly code = "ABORT_ERR";

  constructor(message = "The operation was aborted", options?: { cause?: unknown }) {
    super(message, options);
    this.name = "AbortError";
  }
}

/** True for errors that carry a string `code`, ours or native. */
export function errorCode(error: unknown): string | undefined {
  if (error && typeof error === "object" && "code" in error && typeof error.code === "string") {
    return error.code;
  }
  return undefined;
}
