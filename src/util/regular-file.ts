// Opening files named by someone else (a config, a predictions folder) without ever blocking: only
// regular files are read, and errors name the file and the errno, never its content.
import * as fs from "node:fs";
import { WinnowError } from "./errors.js";

/** A named file that cannot be read: missing (not_found), not a regular file (invalid_input), or an I/O error (io). `where` is the file. */
export class FileReadError extends WinnowError {
  constructor(message: string, code: "not_found" | "invalid_input" | "io" = "io", where?: string) {
    super(code, message, where === undefined ? {} : { where });
  }
}

const openFailure = (e: unknown): "not_found" | "io" => ((e as NodeJS.ErrnoException).code === "ENOENT" ? "not_found" : "io");

/**
 * Opens `file` for reading only if it is a regular file. O_NONBLOCK: opening a FIFO or device never
 * waits for a writer; fstat on the open descriptor decides, so a swap after a check cannot slip by.
 */
export function openRegularFile(file: string, field: string): number {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    throw new FileReadError(`${field}: ${file} cannot be opened (${(e as NodeJS.ErrnoException).code ?? "error"})`, openFailure(e), file);
  }
  let ok = false;
  try {
    ok = fs.fstatSync(fd).isFile();
  } finally {
    if (!ok) fs.closeSync(fd);
  }
  if (!ok) throw new FileReadError(`${field}: ${file} is not a regular file`, "invalid_input", file);
  return fd;
}

/** The whole text of a regular file (see openRegularFile). */
export function readRegularText(file: string, field: string): string {
  const fd = openRegularFile(file, field);
  try {
    return fs.readFileSync(fd, "utf8");
  } catch (e) {
    throw new FileReadError(`${field}: ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? "error"})`, "io", file);
  } finally {
    fs.closeSync(fd);
  }
}

