/**
 * System errors on a path a user gave, restated as ShortgptErrors with a
 * stable ERR_FILE_* code and a message that names the path and the reason in
 * words (never a bare "EISDIR"). One table for every command and the API.
 */
import { dirname, resolve } from "node:path";

import { ShortgptError } from "../errors.js";

/** The code and the reason in words for errno `code`, reading or writing `path`. */
function describe(code: string, path: string, writing: boolean): [string, string] {
  const dir = dirname(resolve(path));
  switch (code) {
    case "ENOENT":
      return writing ? ["ERR_FILE_OPEN", `its folder ${dir} does not exist`] : ["ERR_FILE_NOT_FOUND", "no such file"];
    case "ENOTDIR":
      return [writing ? "ERR_FILE_OPEN" : "ERR_FILE_NOT_FOUND", `a part of the path before ${path} is not a folder`];
    case "EISDIR":
      return ["ERR_FILE_NOT_REGULAR", "it is a folder"];
    case "EACCES":
    case "EPERM":
      return ["ERR_FILE_PERMISSION", writing ? `no permission to write it or to create files in ${dir}` : "no permission to read it"];
    case "EROFS":
      return ["ERR_FILE_OPEN", `${dir} is on a read-only file system`];
    case "ENOSPC":
      return ["ERR_FILE_WRITE", "the disk is full"];
    case "EDQUOT":
      return ["ERR_FILE_WRITE", "the disk quota is exhausted"];
    case "EFBIG":
      return ["ERR_FILE_WRITE", "the file is larger than this file system allows"];
    case "ENAMETOOLONG":
      return ["ERR_FILE_OPEN", "the name is too long"];
    case "ELOOP":
      return ["ERR_FILE_OPEN", "too many levels of symbolic links"];
    case "EMFILE":
    case "ENFILE":
      return ["ERR_FILE_OPEN", "too many open files"];
    case "EIO":
      return [writing ? "ERR_FILE_WRITE" : "ERR_FILE_READ", "an input/output error (a failing disk or network file system?)"];
    case "EBUSY":
    case "ETXTBSY":
      return ["ERR_FILE_OPEN", "it is busy"];
    default:
      return [writing ? "ERR_FILE_WRITE" : "ERR_FILE_READ", code];
  }
}

/** The errno code of a Node system error, or undefined for anything else. */
export function errnoOf(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === "string" && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}

/**
 * A system error while reading `path` (`what` says which input: "model",
 * "calibration text", ...) as a ShortgptError; other errors pass through.
 */
export function inputError(error: unknown, path: string, what = "file"): unknown {
  const errno = errnoOf(error);
  if (!errno) return error;
  const [code, reason] = describe(errno, path, false);
  return new ShortgptError(code, `cannot read ${what} ${path}: ${reason}`, { cause: error });
}

/**
 * A system error while writing `path` as a ShortgptError (the temporary file's
 * name means nothing to a user: the message names the destination); other
 * errors pass through.
 */
export function outputError(error: unknown, path: string): unknown {
  const errno = errnoOf(error);
  if (!errno) return error;
  const [code, reason] = describe(errno, path, true);
  return new ShortgptError(code, `cannot write ${path}: ${reason} (nothing was written)`, { cause: error });
}

/** System calls that change files: an error in one of them is a write error. */
const WRITING_SYSCALLS = new Set(["write", "rename", "mkdir", "unlink", "rmdir", "ftruncate", "fsync", "copyfile", "link", "symlink", "utime", "futime", "chmod"]);

/**
 * Any Node system error that names a path (err.path), as a ShortgptError with
 * an ERR_FILE_* code: the CLI's safety net for a path no command wrapped
 * itself. Other errors pass through.
 */
export function fileErrorFromSystem(error: unknown): unknown {
  const errno = errnoOf(error);
  const e = error as NodeJS.ErrnoException | undefined;
  if (!errno || typeof e?.path !== "string") return error;
  return WRITING_SYSCALLS.has(e.syscall ?? "") ? outputError(error, e.path) : inputError(error, e.path);
}
