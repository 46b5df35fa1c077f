/**
 * Writing outputs safely: every file shortgpt writes (pruned models, JSON
 * scores, HTML reports) goes to a temporary file beside the destination, is
 * flushed to disk and renamed into place, so a full disk, a crash or Ctrl-C
 * never leaves a half-written file where the old one was.
 *
 * - Destinations must be regular files or not exist yet: rename() replaces
 *   whatever the name points at, so a symlink, FIFO, device (`-o /dev/null`
 *   as root) or folder at the destination is refused before anything is
 *   written.
 * - Temporary files are named `.<name>.shortgpt-tmp-<host>-<pid>-<random>`:
 *   recognisable, and tied to the process that writes them. A process killed
 *   with SIGKILL cannot remove its own; the next write into that folder
 *   removes temporaries of this host whose process is gone.
 */
import { createHash, randomBytes } from "node:crypto";
import { accessSync, closeSync, constants, fsyncSync, lstatSync, openSync, readdirSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { basename, dirname, join, resolve } from "node:path";

import { ShortgptError } from "../errors.js";
import { errnoOf, outputError } from "./file-errors.js";
import { fileKind } from "./input.js";

/** What marks a temporary file of ours. */
export const TEMP_MARK = ".shortgpt-tmp-";

/** This machine, as 8 hex digits: a pid means something only on the host that wrote it. */
const HOST_TAG = createHash("sha256").update(hostname()).digest("hex").slice(0, 8);

/** `.<name>.shortgpt-tmp-<host>-<pid>-<random>`; captures name, host and pid. */
const TEMP_NAME = /^\.(.*)\.shortgpt-tmp-([0-9a-f]{8})-(\d+)-[0-9a-f]{8}$/;

/** Longest destination name kept whole in a temporary name (255-byte file names, minus the suffix). */
const MAX_NAME_IN_TEMP = 180;

/** A new temporary path beside `outputPath`, unique to this process and call. */
export function tempPathFor(outputPath: string): string {
  let name = basename(outputPath);
  if (Buffer.byteLength(name) > MAX_NAME_IN_TEMP) name = Buffer.from(name).subarray(0, MAX_NAME_IN_TEMP).toString("utf8").replace(/\uFFFD+$/, "");
  return join(dirname(resolve(outputPath)), `.${name}${TEMP_MARK}${HOST_TAG}-${process.pid}-${randomBytes(4).toString("hex")}`);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return errnoOf(error) !== "ESRCH";
  }
}

/**
 * Removes temporary files that a process of this host left in `dir` and can
 * no longer remove itself (it is gone: killed, crashed). Files of live
 * processes, of other hosts (a shared network folder) and anything not named
 * like ours are left alone. Returns the paths removed; never throws.
 */
export function cleanStaleTemps(dir: string): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = TEMP_NAME.exec(name);
    if (!m || m[2] !== HOST_TAG) continue;
    const pid = Number(m[3]);
    if (pid === process.pid || !Number.isSafeInteger(pid) || processAlive(pid)) continue;
    const path = join(dir, name);
    try {
      if (!lstatSync(path).isFile()) continue;
      unlinkSync(path);
      removed.push(path);
    } catch {
      // gone already, or not ours to remove
    }
  }
  return removed;
}

/**
 * Checks that `outputPath` can be replaced by a new regular file: it does not
 * exist or is a regular file, and its folder exists and is writable. Throws
 * ERR_FILE_NOT_REGULAR (a folder, symlink, FIFO, device or socket is there, or
 * the path ends with a separator), ERR_FILE_OPEN or ERR_FILE_PERMISSION.
 * `what` names the output in messages ("report", ...).
 */
export function checkOutputPath(outputPath: string, what?: string): void {
  const target = what ? `${what} ${outputPath}` : outputPath;
  if ((process.platform === "win32" ? /[/\\]$/ : /\/$/).test(outputPath)) {
    throw new ShortgptError(
      "ERR_FILE_NOT_REGULAR",
      `cannot write ${target}: it names a folder; give a file name, e.g. ${join(outputPath, "out")}`,
    );
  }
  try {
    const st = lstatSync(outputPath);
    if (!st.isFile()) {
      const hint = st.isDirectory()
        ? `; give a file name, e.g. ${join(outputPath, basename(outputPath) || "out")}`
        : st.isSymbolicLink()
          ? ": the link itself would be replaced, not the file it points to; give the target's path or remove the link"
          : ": it would be replaced by a regular file; choose a file path";
      throw new ShortgptError("ERR_FILE_NOT_REGULAR", `cannot write ${target}: it is ${fileKind(st)}${hint}`);
    }
  } catch (error) {
    if (error instanceof ShortgptError) throw error;
    if (errnoOf(error) !== "ENOENT") throw outputError(error, outputPath);
  }
  const dir = dirname(resolve(outputPath));
  try {
    if (!statSync(dir).isDirectory()) throw new ShortgptError("ERR_FILE_OPEN", `cannot write ${target}: ${dir} is not a folder`);
    if (process.platform !== "win32") accessSync(dir, constants.W_OK);
  } catch (error) {
    if (error instanceof ShortgptError) throw error;
    throw outputError(error, outputPath);
  }
}

/** Makes a rename durable. Not possible on Windows, where it is skipped. */
export function fsyncDirectory(dir: string): void {
  if (process.platform === "win32") return;
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // some file systems refuse fsync on folders; the data itself is synced
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Writes `text` (UTF-8) to `path` atomically: checked destination, temporary
 * file, fsync, rename. On any error nothing is left behind and the old file
 * (if any) is untouched. Errors name `path` with an ERR_FILE_* code.
 */
export function writeTextAtomic(path: string, text: string | Uint8Array, what?: string): void {
  checkOutputPath(path, what);
  const dir = dirname(resolve(path));
  cleanStaleTemps(dir);
  const temp = tempPathFor(path);
  let fd: number | undefined;
  try {
    fd = openSync(temp, "wx", 0o644);
    const bytes = typeof text === "string" ? Buffer.from(text, "utf8") : text;
    let done = 0;
    while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, done);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    checkOutputPath(path, what); // nothing special appeared meanwhile
    renameSync(temp, path);
    fsyncDirectory(dir);
  } catch (error) {
    discardTemp(fd, temp);
    throw outputError(error, path);
  }
}

/** Closes and removes a temporary file after a failure; never throws. */
export function discardTemp(fd: number | undefined, temp: string): void {
  if (fd !== undefined) {
    try {
      closeSync(fd);
    } catch {
      // already failing; the original error matters
    }
  }
  try {
    unlinkSync(temp);
  } catch {
    // never created, or already gone
  }
}
