// Lightly's model zoo (lightly/models/zoo.py): six SimCLR checkpoints trained by Lightly in 2020,
// keyed "<model.name>/simclr/d<num_ftrs>/w<float(width)>" as lightly's CLI builds the key
// (cli/_helpers.py get_ptmodel_from_config). Same URLs and file names; the "-<hex>" before ".pth"
// is a sha256 prefix (torch.hub's HASH_REGEX). WINNOW_MODEL_ZOO may name a JSON file that adds or
// replaces entries ({ "<key>": { "url": "...", "sha256Prefix"?: "...", "sha256"?: "..." } }),
// e.g. a company's own pretrained models.
import * as fs from "node:fs";
import * as path from "node:path";
import type { WeightsFile } from "./weights/resolve.js";

const BASE = "https://storage.googleapis.com/models_boris/";

export const LIGHTLY_ZOO: Readonly<Record<string, string>> = {
  "resnet-9/simclr/d16/w0.0625": `${BASE}whattolabel-resnet9-simclr-d16-w0.0625-i-ce0d6bd9.pth`,
  "resnet-9/simclr/d16/w0.125": `${BASE}whattolabel-resnet9-simclr-d16-w0.125-i-7269c38d.pth`,
  "resnet-18/simclr/d16/w1.0": `${BASE}whattolabel-resnet18-simclr-d16-w1.0-i-58852cb9.pth`,
  "resnet-18/simclr/d32/w1.0": `${BASE}whattolabel-resnet18-simclr-d32-w1.0-i-085d0693.pth`,
  "resnet-34/simclr/d16/w1.0": `${BASE}whattolabel-resnet34-simclr-d16-w1.0-i-6e80d963.pth`,
  "resnet-34/simclr/d32/w1.0": `${BASE}whattolabel-resnet34-simclr-d32-w1.0-i-9f185b45.pth`,
};

/** Python's str(float(x)) for the widths lightly's configs use (1 → "1.0", 0.0625 → "0.0625"). */
function pyFloat(x: number): string {
  return Number.isInteger(x) ? `${x}.0` : String(x);
}

/** The zoo key lightly builds for a model config. */
export function zooKey(model: { name: string; num_ftrs: number; width: number }): string {
  return `${model.name}/simclr/d${model.num_ftrs}/w${pyFloat(model.width)}`;
}

/** torch.hub's hash prefix of a file name: the first "-<hex>." (HASH_REGEX = r'-([a-f0-9]*)\.'). */
export function hashPrefixOf(fileName: string): string | undefined {
  const m = /-([a-f0-9]*)\./.exec(fileName);
  return m && m[1] ? m[1] : undefined;
}

export interface ZooEntry extends WeightsFile {
  key: string;
}

function entryOf(key: string, url: string, extra: { sha256?: string; sha256Prefix?: string } = {}): ZooEntry {
  const fileName = path.posix.basename(new URL(url).pathname);
  return { key, url, fileName, sha256: extra.sha256, sha256Prefix: extra.sha256 ? undefined : extra.sha256Prefix ?? hashPrefixOf(fileName), maxBytes: 512 * 1024 ** 2 };
}

/** Entries of the WINNOW_MODEL_ZOO file, checked. */
function extraEntries(env: NodeJS.ProcessEnv): Map<string, ZooEntry> {
  const out = new Map<string, ZooEntry>();
  const file = (env.WINNOW_MODEL_ZOO ?? "").trim();
  if (!file) return out;
  let doc: unknown;
  try {
    doc = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new Error(`WINNOW_MODEL_ZOO: cannot read ${file}: ${(e as Error).message}`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new Error(`WINNOW_MODEL_ZOO: ${file} must hold a JSON object of "<zoo key>": { "url": ... }`);
  for (const [key, v] of Object.entries(doc)) {
    const e = v as { url?: unknown; sha256?: unknown; sha256Prefix?: unknown };
    if (typeof e?.url !== "string" || !/^https?:\/\//.test(e.url)) throw new Error(`WINNOW_MODEL_ZOO: ${file}: ${key}.url must be an http(s) URL`);
    for (const f of ["sha256", "sha256Prefix"] as const) {
      if (e[f] !== undefined && (typeof e[f] !== "string" || !/^[a-f0-9]{1,64}$/.test(e[f] as string))) throw new Error(`WINNOW_MODEL_ZOO: ${file}: ${key}.${f} must be lower-case hex`);
    }
    out.set(key, entryOf(key, e.url, { sha256: e.sha256 as string | undefined, sha256Prefix: e.sha256Prefix as string | undefined }));
  }
  return out;
}

/** The zoo entry for `key`, or null when the zoo has none (lightly then trains/embeds from random weights). */
export function zooEntry(key: string, env: NodeJS.ProcessEnv = process.env): ZooEntry | null {
  const extra = extraEntries(env).get(key);
  if (extra) return extra;
  const url = LIGHTLY_ZOO[key];
  return url ? entryOf(key, url) : null;
}

/** Every key the zoo offers (Lightly's and WINNOW_MODEL_ZOO's). */
export function zooKeys(env: NodeJS.ProcessEnv = process.env): string[] {
  return [...new Set([...Object.keys(LIGHTLY_ZOO), ...extraEntries(env).keys()])];
}
