// The local datasource: a folder of images, walked recursively.
//
// Filenames are relative POSIX paths ("a/b.jpg") in code-point order, which is UTF-8 byte order,
// so the order does not depend on locale or on the order the file system returns entries.
// Nothing outside the folder is ever read: symbolic links (to files or folders) are refused,
// not followed, and names given from outside are checked by `resolveInside`.
import * as fs from "node:fs";
import * as path from "node:path";
import { WinnowError } from "../util/errors.js";
import type { VideoListing } from "./video/listing.js";

/** Extensions taken (compared lower-cased). GIF and TIFF: the first frame/page is used. */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set([
  ".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif",
]);

/** A file the listing would not take, with why. */
export interface Refused {
  filename: string;
  reason: string;
}

export interface Listing {
  /** Real path of the folder (symlinks in the root's own path resolved once). */
  root: string;
  /** Relative POSIX paths of candidate images, sorted by code point (= UTF-8 byte order). */
  filenames: string[];
  /** File sizes in bytes (lstat at listing time), parallel to `filenames`. */
  sizes: Float64Array;
  /** Modification times in nanoseconds since the epoch, parallel to `filenames`. */
  mtimesNs: BigInt64Array;
  /** Entries with an image extension (or folders) that were not taken, sorted by filename. */
  refused: Refused[];
  /** Hidden entries (name starting with ".") skipped, not descended into. */
  hiddenSkipped: number;
  /** Only from listFolderWithVideos: which entries are video frames (video/listing.ts). */
  videos?: VideoListing;
}

/**
 * Code-point order of two strings (the order of their UTF-8 bytes). JavaScript's `<` compares
 * UTF-16 code units, which puts U+E000..U+FFFF after astral characters; this corrects that.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x !== y) {
      if (x >= 0xd800 && y >= 0xd800) {
        // Surrogates (astral planes) sort after every BMP character.
        x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
        y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
      }
      return x - y;
    }
  }
  return a.length - b.length;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
// Control characters would break the line-based artifacts (selected_filenames.txt, CSVs).
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Lower-cased extension with the dot, or "" (".jpg" for "a.JPG"). */
export function extensionOf(name: string): string {
  const dot = name.lastIndexOf(".");
  return dot > 0 ? name.slice(dot).toLowerCase() : "";
}

export interface ListOptions {
  /** Extensions to take (lower-case, with the dot). Default IMAGE_EXTENSIONS. */
  extensions?: ReadonlySet<string>;
}

/**
 * Lists the images under `root`, recursively. The root itself must be an existing directory (a
 * WinnowError otherwise); if the root path is or passes through a symlink it is resolved once, since the
 * user named it. Below the root:
 * - names starting with "." (files and folders such as `.lightly/`, `.winnow/`) are skipped;
 * - files without an image extension are ignored silently;
 * - symlinks, non-regular files (FIFOs, sockets, devices), names that are not valid UTF-8 and
 *   names with control characters are refused and reported when their name has an image
 *   extension (or they are folders), with the reason; others are ignored;
 * - unreadable folders are reported and skipped.
 */
export function listImageFolder(root: string, opts: ListOptions = {}): Listing {
  const exts = opts.extensions ?? IMAGE_EXTENSIONS;
  const realRoot = realFolder(root);
  const w: Walk = { found: [], refused: [], hidden: 0, pending: [""] };
  // Iterative walk: deep trees do not grow the JS stack.
  while (w.pending.length) {
    const relDir = w.pending.pop()!;
    const absDir = relDir ? path.join(realRoot, relDir) : realRoot;
    let entries: fs.Dirent<Buffer>[];
    try {
      entries = fs.readdirSync(absDir, { withFileTypes: true, encoding: "buffer" });
    } catch (e) {
      w.refused.push({ filename: relDir, reason: `folder cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` });
      continue;
    }
    for (const ent of entries) visitEntry(w, ent, relDir, absDir, exts);
  }
  const found = w.found.sort((a, b) => compareCodePoints(a.rel, b.rel));
  const refused = w.refused.sort((a, b) => compareCodePoints(a.filename, b.filename));
  const n = found.length;
  const filenames = new Array<string>(n);
  const sizes = new Float64Array(n);
  const mtimesNs = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    filenames[i] = found[i]!.rel;
    sizes[i] = found[i]!.size;
    mtimesNs[i] = found[i]!.mtimeNs;
  }
  return { root: realRoot, filenames, sizes, mtimesNs, refused, hiddenSkipped: w.hidden };
}

/** The real path of the root the user named; it must be an existing folder. */
function realFolder(root: string): string {
  let realRoot: string;
  try {
    realRoot = fs.realpathSync(root);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code === "ENOENT" ? "not_found" : "io";
    throw new WinnowError(code, `input folder ${JSON.stringify(root)} does not exist or cannot be read: ${(e as Error).message}`, { where: root, cause: e });
  }
  if (!fs.statSync(realRoot).isDirectory()) throw new WinnowError("invalid_input", `input ${JSON.stringify(root)} is not a folder`, { where: root });
  return realRoot;
}

/** The walk so far: images found, entries refused, hidden names skipped, folders still to read. */
interface Walk {
  found: { rel: string; size: number; mtimeNs: bigint }[];
  refused: Refused[];
  hidden: number;
  pending: string[];
}

const SYMLINK_REFUSED = "symbolic link (not followed: it may lead outside the folder)";

/** Takes, refuses, skips or queues (folders) one directory entry. */
function visitEntry(w: Walk, ent: fs.Dirent<Buffer>, relDir: string, absDir: string, exts: ReadonlySet<string>): void {
  let name: string;
  try {
    name = utf8.decode(ent.name);
  } catch {
    const shown = relDir ? `${relDir}/${ent.name.toString("latin1")}` : ent.name.toString("latin1");
    w.refused.push({ filename: shown, reason: "name is not valid UTF-8" });
    return;
  }
  if (name.startsWith(".")) {
    w.hidden++;
    return;
  }
  const rel = relDir ? `${relDir}/${name}` : name;
  const isImageName = exts.has(extensionOf(name));
  if (ent.isSymbolicLink()) {
    if (isImageName || isDirLink(path.join(absDir, name))) w.refused.push({ filename: rel, reason: SYMLINK_REFUSED });
    return;
  }
  if (CONTROL.test(name)) {
    if (isImageName || ent.isDirectory()) w.refused.push({ filename: rel, reason: "name contains a control character" });
    return;
  }
  if (ent.isDirectory()) {
    w.pending.push(rel);
    return;
  }
  if (!isImageName) return;
  if (!ent.isFile()) {
    w.refused.push({ filename: rel, reason: "not a regular file" });
    return;
  }
  let st: fs.BigIntStats;
  try {
    st = fs.lstatSync(path.join(absDir, name), { bigint: true });
  } catch (e) {
    w.refused.push({ filename: rel, reason: `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` });
    return;
  }
  if (!st.isFile()) {
    // Replaced between readdir and lstat.
    w.refused.push({ filename: rel, reason: st.isSymbolicLink() ? SYMLINK_REFUSED : "not a regular file" });
    return;
  }
  w.found.push({ rel, size: Number(st.size), mtimeNs: st.mtimeNs });
}

function isDirLink(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false; // dangling
  }
}

/** A relative name that may not be used (absolute, "..", symlinked component, …). */
export class PathRefused extends WinnowError {
  constructor(readonly filename: string, readonly reason: string) {
    super("forbidden", `${JSON.stringify(filename)}: ${reason}`, { where: filename });
  }
}

/**
 * The absolute path of `rel` inside `realRoot` (which must already be a real path), refusing
 * anything that could leave the folder: absolute names, empty, "." or ".." segments, backslashes,
 * NUL/control characters. Symlinked components are caught by `checkRealInside` at open time.
 */
export function resolveInside(realRoot: string, rel: string): string {
  if (typeof rel !== "string" || rel.length === 0) throw new PathRefused(String(rel), "empty name");
  if (CONTROL.test(rel)) throw new PathRefused(rel, "name contains a control character");
  if (rel.startsWith("/")) throw new PathRefused(rel, "absolute path (names are relative to the folder)");
  if (rel.includes("\\")) throw new PathRefused(rel, "backslash in name (names are POSIX paths)");
  for (const seg of rel.split("/")) {
    if (seg === "" || seg === "." || seg === "..") throw new PathRefused(rel, `path segment ${JSON.stringify(seg)} (the name must stay inside the folder)`);
  }
  const abs = path.join(realRoot, rel);
  // Defence in depth: path.join normalizes; it must still be under the root.
  if (!abs.startsWith(realRoot.endsWith("/") ? realRoot : realRoot + "/")) throw new PathRefused(rel, "path leaves the folder");
  return abs;
}

/** Throws PathRefused when `abs` (from resolveInside) passes through a symlink. */
export async function checkRealInside(abs: string, rel: string): Promise<void> {
  let real: string;
  try {
    real = await fs.promises.realpath(abs);
  } catch (e) {
    throw new PathRefused(rel, `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (real !== abs) throw new PathRefused(rel, "symbolic link in the path (it may lead outside the folder)");
}
