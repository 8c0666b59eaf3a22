// A cross-process lock on one cache folder: one builder at a time. The lock file is created
// exclusively and names its holder (pid, host); a lock whose process is gone on this host is stale
// and taken over. Readers (openImageCache) need no lock: the index is replaced atomically.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { WinnowError } from "../../util/errors.js";

/** Waits until `dir`/lock is ours (WinnowError "busy" after `timeoutMs`); returns its release. */
export async function acquireLock(dir: string, timeoutMs: number): Promise<() => void> {
  const file = path.join(dir, "lock");
  const me = JSON.stringify({ pid: process.pid, host: os.hostname() });
  const start = Date.now();
  for (;;) {
    if (tryCreate(file, me)) return () => release(file, me);
    const holder = readHolder(file);
    if (holder.host === os.hostname() && typeof holder.pid === "number" && !alive(holder.pid)) {
      try {
        fs.unlinkSync(file); // stale: its process is gone
      } catch {
        /* someone else removed it */
      }
      continue;
    }
    if (Date.now() - start > timeoutMs) {
      throw new WinnowError("busy", `image cache ${dir} is being built by another process (${JSON.stringify(holder)}); gave up after ${timeoutMs} ms`, { where: dir });
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

function tryCreate(file: string, me: string): boolean {
  try {
    fs.writeFileSync(file, me, { flag: "wx" });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw new WinnowError("io", `cannot create the cache lock ${file}: ${(e as Error).message}`, { where: file, cause: e });
    return false;
  }
}

function release(file: string, me: string): void {
  try {
    if (fs.readFileSync(file, "utf8") === me) fs.unlinkSync(file);
  } catch {
    /* already gone */
  }
}

function readHolder(file: string): { pid?: number; host?: string } {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch {
    return {}; // being written or removed: retry
  }
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
