// Downloads one published weight file into a folder: redirects followed (5 at most), the proxy from
// the environment, a stall timeout, a size limit, the sha256 checked while streaming, and an atomic
// write (a temporary file renamed into place once complete and verified), so a failed, tampered or
// interrupted download leaves nothing behind.
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import type { IncomingMessage } from "node:http";
import * as path from "node:path";
import { getOnce } from "./proxy.js";
import { WinnowError } from "../../util/errors.js";

export const DEFAULT_STALL_MS = 60_000;
export const DEFAULT_MAX_BYTES = 1024 ** 3;

/** Why a download failed; `network` is true when the file was not reachable at all (offline). */
export class DownloadError extends WinnowError {
  constructor(message: string, readonly network: boolean, opts: { where?: string; cause?: unknown } = {}) {
    super("download", message, opts);
  }
}

export interface DownloadSpec {
  url: string;
  fileName: string;
  sha256?: string;
  sha256Prefix?: string;
  maxBytes?: number;
}

export interface DownloadOptions {
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** No byte for this long ends the download (default 60 s, WINNOW_MODEL_DOWNLOAD_TIMEOUT_MS). */
  stallMs?: number;
  /** Bytes received so far and the announced total (0 when unknown); the caller draws the bar. */
  onProgress?: (bytes: number, total: number) => void;
  log?: (line: string) => void;
}

const NETWORK_CODES = new Set(["ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ENETUNREACH", "EHOSTUNREACH", "ECONNRESET", "ETIMEDOUT", "EPROTO", "CERT_HAS_EXPIRED", "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "DEPTH_ZERO_SELF_SIGNED_CERT"]);

/**
 * Removes temporary files an earlier download of the same file left when its process was killed
 * (nothing else can clean them up): those older than an hour, so a concurrent download is spared.
 */
function sweepStaleParts(dir: string, fileName: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    if (!n.startsWith(`.${fileName}.part-`)) continue;
    const p = path.join(dir, n);
    try {
      if (Date.now() - fs.statSync(p).mtimeMs > 3_600_000) fs.rmSync(p, { force: true });
    } catch {
      /* gone already */
    }
  }
}

/** Downloads `spec.url` to `dir/spec.fileName`; returns the file's sha256. */
export async function downloadWeights(spec: DownloadSpec, dir: string, opts: DownloadOptions): Promise<string> {
  const envMs = Number(opts.env.WINNOW_MODEL_DOWNLOAD_TIMEOUT_MS);
  const stallMs = opts.stallMs ?? (Number.isFinite(envMs) && envMs > 0 ? envMs : DEFAULT_STALL_MS);
  const maxBytes = spec.maxBytes ?? DEFAULT_MAX_BYTES;
  const ctl = new AbortController();
  const onAbort = (): void => ctl.abort();
  opts.signal?.addEventListener("abort", onAbort);
  if (opts.signal?.aborted) ctl.abort();
  let stalled = false;
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      stalled = true;
      ctl.abort();
    }, stallMs);
  };
  const dest = path.join(dir, spec.fileName);
  const tmp = path.join(dir, `.${spec.fileName}.part-${process.pid}-${randomBytes(4).toString("hex")}`);
  let fd = -1;
  const why = (e: unknown): DownloadError => {
    if (e instanceof DownloadError) return e;
    if (stalled) return new DownloadError(`no data from ${spec.url} for ${stallMs / 1000} s (WINNOW_MODEL_DOWNLOAD_TIMEOUT_MS raises the limit)`, true);
    if (opts.signal?.aborted) return new DownloadError(`the download of ${spec.url} was interrupted`, false);
    const code = (e as { code?: string }).code;
    return new DownloadError(`cannot download ${spec.url}: ${code ?? (e as Error).message}`, code !== undefined && NETWORK_CODES.has(code));
  };
  sweepStaleParts(dir, spec.fileName);
  try {
    arm();
    let u = new URL(spec.url);
    let res: IncomingMessage;
    for (let hop = 0; ; hop++) {
      if (u.protocol !== "http:" && u.protocol !== "https:") throw new DownloadError(`${u.href}: only http(s) URLs can be downloaded`, false);
      res = await getOnce(u, opts.env, ctl.signal);
      const loc = res.headers.location;
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && loc) {
        res.resume();
        if (hop >= 5) throw new DownloadError(`${spec.url}: more than 5 redirects`, false);
        u = new URL(loc, u);
        continue;
      }
      if (status < 200 || status > 299) {
        res.resume();
        throw new DownloadError(`HTTP ${status} from ${u.href}${status === 404 ? " (not found: check the URL or the mirror, WINNOW_MODEL_MIRROR)" : ""}`, false);
      }
      break;
    }
    const declared = Number(res.headers["content-length"] ?? NaN);
    if (Number.isFinite(declared) && declared > maxBytes) {
      throw new DownloadError(`${spec.url} is ${declared} bytes, more than the ${maxBytes} expected for ${spec.fileName}`, false);
    }
    fs.mkdirSync(dir, { recursive: true });
    fd = fs.openSync(tmp, "wx", 0o644);
    const hash = createHash("sha256");
    let total = 0;
    for await (const chunk of res as AsyncIterable<Buffer>) {
      arm();
      total += chunk.byteLength;
      if (total > maxBytes) throw new DownloadError(`${spec.url} sent more than the ${maxBytes} bytes expected for ${spec.fileName}`, false);
      hash.update(chunk);
      let off = 0;
      while (off < chunk.byteLength) off += fs.writeSync(fd, chunk, off, chunk.byteLength - off);
      opts.onProgress?.(total, Number.isFinite(declared) ? declared : 0);
    }
    if (Number.isFinite(declared) && total !== declared) throw new DownloadError(`${spec.url} announced ${declared} bytes and sent ${total} (the download broke off)`, true);
    const sha = hash.digest("hex");
    const want = (spec.sha256 ?? spec.sha256Prefix ?? "").toLowerCase();
    if (want && !sha.startsWith(want)) {
      throw new DownloadError(
        `${spec.url}: sha256 ${sha} does not match the expected ${spec.sha256 ? "sha256" : "sha256 prefix"} ${want} of ${spec.fileName}; the file was not kept (a tampered mirror or a broken transfer)`,
        false,
      );
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = -1;
    fs.renameSync(tmp, dest);
    opts.log?.(`downloaded ${spec.url}: ${total} bytes, sha256 ${sha.slice(0, 12)}… → ${dest}`);
    return sha;
  } catch (e) {
    throw why(e);
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener("abort", onAbort);
    if (fd >= 0) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
  }
}
