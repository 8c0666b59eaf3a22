// Where a published weight file is found: Winnow's model cache ($WINNOW_HOME/models), then torch
// hub's checkpoint folder ($TORCH_HOME/hub/checkpoints, default ~/.cache/torch/hub/checkpoints: a
// PyTorch or Lightly user already has files there), then a download into Winnow's cache (from the
// publisher's URL, or from WINNOW_MODEL_MIRROR/<file name> for companies that host the files
// themselves). Every file's sha256 is computed (it is recorded as the weights' provenance) and
// checked against the published hash or the torch.hub file-name prefix. Offline (WINNOW_OFFLINE=1,
// or the download cannot reach the host) the error names the file, its URL and both folders.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { DownloadError, downloadWeights } from "./download.js";
import { WinnowError } from "../../util/errors.js";

export interface WeightsFile {
  fileName: string;
  url: string;
  /** Full sha256 (hex) of the file, when the publisher gives it. */
  sha256?: string;
  /** A prefix of the sha256 (torch.hub's `-<hex>` file-name suffix). */
  sha256Prefix?: string;
  /** Largest size accepted (default 1 GiB). */
  maxBytes?: number;
}

export interface ResolvedWeights {
  path: string;
  sha256: string;
  source: "winnow-cache" | "torch-hub" | "download";
  /** Where it was downloaded from (source "download"). */
  url?: string;
}

export interface ResolveOptions {
  /** Never download (default: WINNOW_OFFLINE=1 in the environment). */
  offline?: boolean;
  log?: (line: string) => void;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
  /** Download progress: bytes so far and the announced total (0 when unknown). */
  onProgress?: (bytes: number, total: number) => void;
  /** Appended to the "not on this machine" error (e.g. how to run without the file). */
  hint?: string;
  /** Stall timeout of the download in ms (default WINNOW_MODEL_DOWNLOAD_TIMEOUT_MS or 60 s). */
  stallMs?: number;
}

/** A weight file that cannot be used: missing offline, failed download, or a wrong hash. */
export class WeightsError extends WinnowError {
  constructor(message: string, opts: { where?: string; cause?: unknown } = {}) {
    super("download", message, opts);
  }
}

/** The two folders a weight file may be in. */
export function weightsFolders(env: NodeJS.ProcessEnv = process.env): { winnow: string; torchHub: string } {
  const winnowHome = path.resolve(env.WINNOW_HOME || path.join(os.homedir(), ".winnow"));
  const xdg = env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache");
  const torchHome = path.resolve(env.TORCH_HOME || path.join(xdg, "torch"));
  return { winnow: path.join(winnowHome, "models"), torchHub: path.join(torchHome, "hub", "checkpoints") };
}

/** The URL a file is downloaded from: WINNOW_MODEL_MIRROR/<file name> when a mirror is set. */
export function downloadUrl(spec: WeightsFile, env: NodeJS.ProcessEnv = process.env): string {
  const mirror = (env.WINNOW_MODEL_MIRROR ?? "").trim();
  return mirror ? `${mirror.replace(/\/+$/, "")}/${encodeURIComponent(spec.fileName)}` : spec.url;
}

export function isOffline(env: NodeJS.ProcessEnv = process.env): boolean {
  return /^(1|true|yes)$/i.test((env.WINNOW_OFFLINE ?? "").trim());
}

async function sha256Of(file: string, signal?: AbortSignal): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of fs.createReadStream(file, { signal })) h.update(chunk as Buffer);
  return h.digest("hex");
}

function checkName(fileName: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/.test(fileName)) throw new WeightsError(`weights file name ${JSON.stringify(fileName)} is not a plain file name`);
}

/** Finds `spec.fileName` in the two folders (in that order) or downloads it; checks its hash. */
export async function resolveWeightsFile(spec: WeightsFile, opts: ResolveOptions = {}): Promise<ResolvedWeights> {
  checkName(spec.fileName);
  const env = opts.env ?? process.env;
  const folders = weightsFolders(env);
  const want = (spec.sha256 ?? spec.sha256Prefix ?? "").toLowerCase();
  const places: [string, ResolvedWeights["source"]][] = [[folders.winnow, "winnow-cache"], [folders.torchHub, "torch-hub"]];
  for (const [dir, source] of places) {
    const file = path.join(dir, spec.fileName);
    let st: fs.Stats;
    try {
      st = fs.statSync(file);
    } catch {
      continue;
    }
    if (!st.isFile()) throw new WeightsError(`${file}: not a regular file`, { where: file });
    if (spec.maxBytes !== undefined && st.size > spec.maxBytes) throw new WeightsError(`${file}: ${st.size} bytes, more than the ${spec.maxBytes} expected for ${spec.fileName}`, { where: file });
    const sha = await sha256Of(file, opts.signal);
    if (want && !sha.startsWith(want)) {
      throw new WeightsError(
        `${file}: sha256 ${sha} does not match the published ${spec.sha256 ? "sha256" : "sha256 prefix"} ${want} of ${spec.fileName} (${spec.url}); ` +
          "the file is damaged or not the published one: delete it (it is downloaded again) or replace it",
        { where: file },
      );
    }
    opts.log?.(`weights: ${spec.fileName} from ${file} (sha256 ${sha.slice(0, 12)}…)`);
    return { path: file, sha256: sha, source };
  }
  const url = downloadUrl(spec, env);
  const place = `Download ${url} and place it in ${folders.winnow} (Winnow's model cache, $WINNOW_HOME/models) ` +
    `or in ${folders.torchHub} (torch hub's checkpoint folder, $TORCH_HOME/hub/checkpoints)${opts.hint ? `; ${opts.hint}` : "."}`;
  if (opts.offline ?? isOffline(env)) {
    throw new WeightsError(`weights file ${spec.fileName} is not on this machine and downloads are off (offline, WINNOW_OFFLINE). ${place}`);
  }
  opts.log?.(`weights: downloading ${spec.fileName} from ${url}`);
  try {
    const sha = await downloadWeights({ ...spec, url }, folders.winnow, { env, signal: opts.signal, onProgress: opts.onProgress, log: opts.log, stallMs: opts.stallMs });
    return { path: path.join(folders.winnow, spec.fileName), sha256: sha, source: "download", url };
  } catch (e) {
    if (e instanceof DownloadError && e.network) {
      throw new WeightsError(`weights file ${spec.fileName} is not on this machine and the download failed (offline?): ${e.message}. ${place}`, { cause: e });
    }
    throw new WeightsError(`weights file ${spec.fileName}: ${(e as Error).message}`, { cause: e });
  }
}
