// Where a run's starting checkpoint comes from: worker_config.checkpoint (a local path or an http(s)
// URL, e.g. a pre-signed one), worker_config.checkpoint_run_id (an earlier local run), or, with
// use_datapool, the newest checkpoint of earlier runs over the same input. Downloads are bounded
// (timeout, size limit) and land atomically in the run's checkpoints/ folder; HTTP failures say
// what probably happened (403: no permission or an expired link; 404: wrong URL).
import * as fs from "node:fs";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { readRunRecord, listRunRecords, type RunRecord } from "./store.js";
import { PolicyError, resolvePolicyPath, openRegularFile, urlGate, type RunPolicy } from "./policy.js";
import { safeGet, TooManyRedirects } from "./safe-get.js";
import { WinnowError } from "../util/errors.js";

export const DEFAULT_DOWNLOAD_TIMEOUT_MS = 5 * 60_000;
export const DEFAULT_DOWNLOAD_MAX_BYTES = 2 * 1024 ** 3;

/** A checkpoint source (path, URL, run id, datapool) that cannot be used; the message names it. */
export class CheckpointSourceError extends WinnowError {
  constructor(message: string, opts: { code?: "not_found" | "download" | "checkpoint" | "too_large" | "forbidden"; where?: string } = {}) {
    super(opts.code ?? "checkpoint", message, { where: opts.where });
  }
}

export interface ResolvedCheckpoint {
  /** Local file to load. */
  path: string;
  /** How it was given: "path", "url", "run:<id>", "datapool:<id>". */
  origin: string;
  /** The URL, path or run id as given. */
  given: string;
}

const envInt = (name: string, def: number): number => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : def;
};

export interface DownloadOptions {
  timeoutMs?: number;
  maxBytes?: number;
  log?: (m: string) => void;
  /** Untrusted config (a worker job): paths and URLs must pass this policy (src/run/policy.ts). */
  policy?: RunPolicy;
  /** Relative paths resolve against this folder under a policy (the dataset's datasource). */
  base?: string;
  /** The config key named in errors. */
  field?: string;
}

/** Shows a URL without its query string (pre-signed URLs carry credentials there). */
export function redactUrl(u: string): string {
  try {
    const url = new URL(u);
    return `${url.origin}${url.pathname}${url.search ? "?…" : ""}`;
  } catch {
    return u;
  }
}

/** Downloads `url` to `dest` (atomic: a temporary file renamed into place), through the policy's gate. */
export async function downloadCheckpoint(url: string, dest: string, opts: DownloadOptions = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? envInt("WINNOW_DOWNLOAD_TIMEOUT_MS", DEFAULT_DOWNLOAD_TIMEOUT_MS);
  const maxBytes = opts.maxBytes ?? envInt("WINNOW_DOWNLOAD_MAX_BYTES", DEFAULT_DOWNLOAD_MAX_BYTES);
  const shown = redactUrl(url);
  const field = opts.field ?? "worker_config.checkpoint";
  const gate = urlGate(opts.policy?.trustedUrls?.includes(url) ? undefined : opts.policy, field, (u) => redactUrl(u.href));
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeoutMs);
  const tmp = path.join(path.dirname(dest), `.${path.basename(dest)}.part-${process.pid}-${randomBytes(4).toString("hex")}`);
  let fd = -1;
  try {
    let res: IncomingMessage;
    try {
      res = await safeGet(url, gate, ctl.signal);
    } catch (e) {
      if (e instanceof PolicyError) throw new CheckpointSourceError(e.message, { code: "forbidden" });
      if ((e as { code?: string }).code === "EPOLICY") throw new CheckpointSourceError((e as Error).message, { code: "forbidden" });
      if (ctl.signal.aborted) throw new CheckpointSourceError(`${field}: no answer from ${shown} within ${timeoutMs / 1000} s (WINNOW_DOWNLOAD_TIMEOUT_MS raises the limit)`, { code: "download", where: field });
      if (e instanceof TooManyRedirects) throw new CheckpointSourceError(`${field}: cannot download ${shown}: ${e.message}`, { code: "download", where: field });
      throw new CheckpointSourceError(`${field}: cannot download ${shown}: ${(e as { code?: string }).code ?? (e as Error).message}`, { code: "download", where: field });
    }
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) {
      let body = "";
      try {
        body = (await readSome(res, 2000)).toString("utf8");
      } catch {
        /* no body */
      }
      const expired = /expired|ExpiredToken|Request has expired/i.test(body);
      let why: string;
      if (expired) why = "the link has expired (pre-signed URLs are valid for a limited time): create a new one";
      else if (status === 403) why = "access denied: the URL lacks permission or has expired (pre-signed URLs are valid for a limited time)";
      else if (status === 401) why = "authentication required: use a pre-signed URL or download the file and pass its path";
      else if (status === 404) why = "not found: check the URL (bucket, key, file name)";
      else if (status === 410) why = "gone: the file was removed or the link has expired";
      else if (status >= 300 && status < 400) why = "a redirect without a location";
      else why = res.statusMessage || "request failed";
      throw new CheckpointSourceError(`${field}: HTTP ${status} from ${shown}: ${why}`, { code: "download", where: field });
    }
    const declared = Number(res.headers["content-length"] ?? NaN);
    if (Number.isFinite(declared) && declared > maxBytes) {
      ctl.abort();
      throw new CheckpointSourceError(`${field}: ${shown} is ${declared} bytes, over the limit of ${maxBytes} bytes (WINNOW_DOWNLOAD_MAX_BYTES raises it)`, { code: "too_large", where: field });
    }
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fd = fs.openSync(tmp, "wx", 0o644);
    let total = 0;
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) {
        total += chunk.byteLength;
        if (total > maxBytes) {
          ctl.abort();
          throw new CheckpointSourceError(`${field}: ${shown} sent more than the limit of ${maxBytes} bytes (WINNOW_DOWNLOAD_MAX_BYTES raises it)`, { code: "too_large", where: field });
        }
        let off = 0;
        while (off < chunk.byteLength) off += fs.writeSync(fd, chunk, off, chunk.byteLength - off);
      }
    } catch (e) {
      if (e instanceof CheckpointSourceError) throw e;
      if (ctl.signal.aborted) throw new CheckpointSourceError(`${field}: the download of ${shown} did not finish within ${timeoutMs / 1000} s (WINNOW_DOWNLOAD_TIMEOUT_MS raises the limit)`, { code: "download", where: field });
      throw new CheckpointSourceError(`${field}: the download of ${shown} broke off: ${(e as { code?: string }).code ?? (e as Error).message}`, { code: "download", where: field });
    }
    if (Number.isFinite(declared) && declared > 0 && total !== declared) {
      throw new CheckpointSourceError(`${field}: ${shown} announced ${declared} bytes and sent ${total}`, { code: "download", where: field });
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = -1;
    fs.renameSync(tmp, dest);
    opts.log?.(`downloaded ${shown}: ${total} bytes → ${dest}`);
  } finally {
    clearTimeout(timer);
    if (fd >= 0) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
  }
}

/** Up to `max` bytes of a response body (for the error text of a failed download). */
async function readSome(res: IncomingMessage, max: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of res as AsyncIterable<Buffer>) {
    parts.push(c);
    n += c.length;
    if (n >= max) break;
  }
  res.destroy();
  return Buffer.concat(parts).subarray(0, max);
}

/** The checkpoint file of an earlier run, checked to exist. */
export function checkpointOfRun(id: string, field = "worker_config.checkpoint_run_id"): { path: string; record: RunRecord } {
  let rec: RunRecord;
  try {
    rec = readRunRecord(id);
  } catch (e) {
    throw new CheckpointSourceError(`${field}: ${(e as Error).message}`, { where: field });
  }
  if (!rec.checkpoint) {
    throw new CheckpointSourceError(`${field}: run ${id} (${rec.state}) has no checkpoint${rec.state === "FAILED" ? " (it failed before writing one)" : " (it did not train and used no checkpoint)"}`, { code: "not_found", where: field });
  }
  if (!fs.existsSync(rec.checkpoint)) throw new CheckpointSourceError(`${field}: the checkpoint of run ${id} is gone: ${rec.checkpoint} does not exist`, { code: "not_found", where: field });
  return { path: rec.checkpoint, record: rec };
}

/**
 * Earlier COMPLETED runs over the same input that count for the datapool (use_datapool with
 * datapool update), newest first. The datapool's checkpoint is the one trained by the newest of
 * them that trained one (resolveCheckpoint); the service applies the same rule
 * (Store.newestDatasetCheckpoint). ABORTED/FAILED runs never count.
 */
export function datapoolRuns(inputRealPath: string): RunRecord[] {
  return listRunRecords().filter((r) => r.state === "COMPLETED" && r.input === inputRealPath && r.useDatapool && r.datapoolUpdate);
}

/**
 * The checkpoint a run starts from, or null. `checkpoint` (path/URL) and `checkpointRunId` are
 * mutually exclusive (worker_config checks it); with neither, `datapool` runs may provide one.
 */
export async function resolveCheckpoint(
  spec: { checkpoint: string; checkpointRunId: string; datapool?: RunRecord[] },
  downloadDir: string,
  opts: DownloadOptions = {},
): Promise<ResolvedCheckpoint | null> {
  const c = spec.checkpoint;
  if (c) {
    if (/^https?:\/\//i.test(c)) {
      let name = "downloaded.ckpt";
      try {
        const base = path.posix.basename(new URL(c).pathname);
        if (/^[A-Za-z0-9._-]{1,100}$/.test(base) && !base.startsWith(".")) name = base;
      } catch {
        throw new CheckpointSourceError(`worker_config.checkpoint: not a valid URL: ${redactUrl(c)}`, { where: "worker_config.checkpoint" });
      }
      const dest = path.join(downloadDir, name);
      await downloadCheckpoint(c, dest, opts);
      return { path: dest, origin: "url", given: redactUrl(c) };
    }
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(c)) {
      throw new CheckpointSourceError(`worker_config.checkpoint: ${c.split("://")[0]}:// URLs are not supported; give a local path or an http(s) URL (e.g. a pre-signed URL)`, { where: "worker_config.checkpoint" });
    }
    if (opts.policy) {
      // Untrusted config: inside the allowed roots, a regular file, and one message for every refusal.
      let real: string;
      try {
        real = resolvePolicyPath(c, "worker_config.checkpoint", opts.policy, opts.base ?? process.cwd());
        fs.closeSync(openRegularFile(real, "worker_config.checkpoint"));
      } catch (e) {
        throw new CheckpointSourceError((e as Error).message, { code: e instanceof PolicyError ? "forbidden" : "checkpoint", where: "worker_config.checkpoint" });
      }
      return { path: real, origin: "path", given: c };
    }
    const p = path.resolve(c);
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch {
      throw new CheckpointSourceError(`worker_config.checkpoint: ${p} does not exist`, { code: "not_found", where: "worker_config.checkpoint" });
    }
    if (!st.isFile()) throw new CheckpointSourceError(`worker_config.checkpoint: ${p} is not a file`, { where: "worker_config.checkpoint" });
    return { path: p, origin: "path", given: c };
  }
  if (spec.checkpointRunId) {
    const { path: p } = checkpointOfRun(spec.checkpointRunId);
    return { path: p, origin: `run:${spec.checkpointRunId}`, given: spec.checkpointRunId };
  }
  for (const r of spec.datapool ?? []) {
    if (r.trained && r.checkpoint && fs.existsSync(r.checkpoint)) return { path: r.checkpoint, origin: `datapool:${r.id}`, given: r.id };
  }
  return null;
}
