// Where a published weight file is found: Winnow's model cache ($WINNOW_HOME/models), then torch
// hub's checkpoint folder ($TORCH_HOME/hub/checkpoints; a PyTorch user already has files there).
// This is the lookup-only version: a file in neither folder is a clear error naming the file, its
// URL and both folders (the downloading version keeps these exports and adds the download).
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export interface WeightsFile {
  fileName: string;
  url: string;
  /** Full sha256 (hex) of the file, when the publisher gives it. */
  sha256?: string;
  /** A prefix of the sha256 (torch.hub's `-<hex>` file-name suffix). */
  sha256Prefix?: string;
  maxBytes?: number;
}

export interface ResolvedWeights {
  path: string;
  sha256: string;
  source: "winnow-cache" | "torch-hub" | "download";
}

/** The two folders a weight file may be in. */
export function weightsFolders(env: NodeJS.ProcessEnv = process.env): { winnow: string; torchHub: string } {
  const winnowHome = env.WINNOW_HOME || path.join(os.homedir(), ".winnow");
  const xdg = env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache");
  const torchHome = env.TORCH_HOME || path.join(xdg, "torch");
  return { winnow: path.join(winnowHome, "models"), torchHub: path.join(torchHome, "hub", "checkpoints") };
}

async function sha256Of(file: string, signal?: AbortSignal): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of fs.createReadStream(file, { signal })) h.update(chunk as Buffer);
  return h.digest("hex");
}

/** Finds `spec.fileName` in the two folders (in that order) and checks its hash when one is known. */
export async function resolveWeightsFile(
  spec: WeightsFile,
  opts: { offline?: boolean; log?: (line: string) => void; signal?: AbortSignal; env?: NodeJS.ProcessEnv } = {},
): Promise<ResolvedWeights> {
  const folders = weightsFolders(opts.env);
  const places: [string, ResolvedWeights["source"]][] = [[folders.winnow, "winnow-cache"], [folders.torchHub, "torch-hub"]];
  for (const [dir, source] of places) {
    const file = path.join(dir, spec.fileName);
    if (!fs.existsSync(file)) continue;
    const size = fs.statSync(file).size;
    if (spec.maxBytes !== undefined && size > spec.maxBytes) throw new Error(`${file}: ${size} bytes, more than the ${spec.maxBytes} expected for ${spec.fileName}`);
    const sha = await sha256Of(file, opts.signal);
    const want = spec.sha256 ?? spec.sha256Prefix;
    if (want && !sha.startsWith(want.toLowerCase())) {
      throw new Error(`${file}: sha256 ${sha} does not match the published ${spec.sha256 ? "sha256" : "sha256 prefix"} ${want} of ${spec.fileName} (${spec.url}); delete the file and fetch it again`);
    }
    opts.log?.(`weights: ${spec.fileName} from ${file} (sha256 ${sha.slice(0, 12)}…)`);
    return { path: file, sha256: sha, source };
  }
  throw new Error(
    `weights file ${spec.fileName} not found. Download it from ${spec.url} and place it in ${folders.winnow} ` +
      `(Winnow's model cache, $WINNOW_HOME/models) or ${folders.torchHub} (torch hub's checkpoint folder, $TORCH_HOME/hub/checkpoints).`,
  );
}
