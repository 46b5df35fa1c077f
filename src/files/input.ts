/**
 * Opening input files safely. A model must be a regular file: a FIFO given
 * as a model path would block open() until some writer appears (a hang that
 * ignores Ctrl-C, since the JS thread never returns to the event loop), and a
 * device or folder has no GGUF to read. Files are opened non-blocking and
 * checked with fstat on the descriptor itself, so nothing can be swapped in
 * between the check and the read.
 */
import { closeSync, constants, fstatSync, openSync, type Stats } from "node:fs";

import { ShortgptError } from "../errors.js";
import { inputError } from "./file-errors.js";

/** "a FIFO", "a folder", ... for a path that is not a regular file. */
export function fileKind(st: Pick<Stats, "isDirectory" | "isFIFO" | "isCharacterDevice" | "isBlockDevice" | "isSocket" | "isSymbolicLink">): string {
  if (st.isDirectory()) return "a folder";
  if (st.isFIFO()) return "a FIFO (named pipe)";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSocket()) return "a socket";
  if (st.isSymbolicLink()) return "a symbolic link";
  return "not a regular file";
}

// O_NONBLOCK makes open() of a FIFO return at once; for regular files it
// changes nothing. Windows has no FIFOs on paths and no such flag.
const READ_FLAGS = process.platform === "win32" ? constants.O_RDONLY : constants.O_RDONLY | constants.O_NONBLOCK;

/**
 * Opens `path` for reading and returns the descriptor, after checking that it
 * is a regular file. `what` names the input in errors ("model", ...).
 * Errors: ERR_FILE_NOT_FOUND, ERR_FILE_NOT_REGULAR, ERR_FILE_PERMISSION, ERR_FILE_OPEN.
 */
export function openRegularFile(path: string, what = "file"): number {
  let fd: number;
  try {
    fd = openSync(path, READ_FLAGS);
  } catch (error) {
    throw inputError(error, path, what);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      throw new ShortgptError("ERR_FILE_NOT_REGULAR", `cannot read ${what} ${path}: it is ${fileKind(st)}, not a regular file`);
    }
    return fd;
  } catch (error) {
    closeSync(fd);
    throw inputError(error, path, what);
  }
}
