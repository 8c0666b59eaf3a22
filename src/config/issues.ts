// Config errors for any strict zod schema whose leaves carry FieldMeta (`allowed`, `description`):
// unknown keys get a "did you mean", bad values name the full dotted path, what was given and what
// is allowed. Used by every config section: lightly_config, worker_config, selection_config, the run file.
import type { z } from "zod";
import type { FieldMeta } from "./lightly-config.js";

export interface ConfigIssue {
  /** Full dotted path, e.g. "lightly_config.collate.min_scale". */
  path: string;
  message: string;
}

/** Levenshtein distance (insertions, deletions, substitutions). */
export function levenshtein(a: string, b: string): number {
  if (a === b) return 0;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

const snake = (s: string): string => s.replace(/([a-z0-9])([A-Z])/g, "$1_$2").replace(/[-\s]+/g, "_").toLowerCase();

/** The allowed key closest to `key` (case, camelCase and dashes forgiven), if it is close enough. */
/** Names people reach for that Levenshtein would not find. */
const ALIASES: Record<string, string> = {
  learning_rate: "lr", wd: "weight_decay", epochs: "max_epochs", num_epochs: "max_epochs", temp: "temperature",
  image_size: "input_size", img_size: "input_size", workers: "num_workers", backbone: "name", arch: "name",
};

export function suggestKey(key: string, allowed: readonly string[]): string | null {
  const alias = ALIASES[snake(key)];
  if (alias && allowed.includes(alias)) return alias;
  let best: string | null = null;
  let bestD = Infinity;
  const k = snake(key);
  for (const a of allowed) {
    const d = Math.min(levenshtein(k, a), levenshtein(key.toLowerCase(), a));
    if (d < bestD) {
      bestD = d;
      best = a;
    }
  }
  if (best === null) return null;
  const limit = Math.max(2, Math.ceil(Math.min(key.length, best.length) * 0.4));
  return bestD <= limit ? best : null;
}


type AnyZ = z.ZodType & { _zod: { def: Record<string, unknown> } };

function unwrap(s: AnyZ): AnyZ {
  let cur = s;
  for (;;) {
    const def = cur._zod.def as { type: string; innerType?: AnyZ; in?: AnyZ };
    if ((def.type === "default" || def.type === "prefault" || def.type === "optional" || def.type === "nullable") && def.innerType) cur = def.innerType;
    else if (def.type === "pipe" && def.in) cur = def.in;
    else return cur;
  }
}

/** The keys of an object schema (through defaults/optionals), or null for a leaf. */
export function shapeOfSchema(s: z.ZodType): Record<string, z.ZodType> | null {
  const u = unwrap(s as AnyZ);
  const def = u._zod.def as unknown as { type: string; shape?: Record<string, AnyZ> };
  return def.type === "object" && def.shape ? def.shape : null;
}

function nodeAt(root: z.ZodType, path: readonly PropertyKey[]): z.ZodType | null {
  let cur: z.ZodType | null = root;
  for (const p of path) {
    if (!cur) return null;
    const sh = shapeOfSchema(cur);
    if (!sh || typeof p !== "string" || !(p in sh)) return cur;
    cur = sh[p]!;
  }
  return cur;
}

/** The FieldMeta of a leaf (or { section, description } of a section). */
export const metaOfSchema = (s: z.ZodType | null): Partial<FieldMeta & { section: boolean }> =>
  ((s as unknown as { meta?(): Record<string, unknown> | undefined } | null)?.meta?.() ?? {}) as Partial<FieldMeta & { section: boolean }>;

/** A value as an error message shows it. */
export function showValue(v: unknown): string {
  if (v === undefined) return "nothing";
  if (typeof v === "string") return `the string ${JSON.stringify(v)}`;
  if (Array.isArray(v)) return `[${v.map((x) => (typeof x === "string" ? JSON.stringify(x) : String(x))).join(", ")}]`;
  if (v !== null && typeof v === "object") return "an object";
  return String(v);
}

function valueAt(obj: unknown, path: readonly PropertyKey[]): unknown {
  let cur = obj;
  for (const p of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}

export const dottedPath = (rootName: string, path: readonly PropertyKey[]): string =>
  [rootName, ...path.map((p) => (typeof p === "number" ? `[${p}]` : String(p)))].join(".").replace(/\.\[/g, "[");

/** zod's issues for `input` against `schema`, as ConfigIssues rooted at `rootName`. */
export function zodConfigIssues(schema: z.ZodType, err: z.ZodError, input: unknown, rootName: string): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const iss of err.issues) {
    if (iss.code === "unrecognized_keys") {
      const node = nodeAt(schema, iss.path);
      const allowed = Object.keys((node && shapeOfSchema(node)) ?? {});
      for (const key of iss.keys) {
        const s = suggestKey(key, allowed);
        out.push({
          path: dottedPath(rootName, [...iss.path, key]),
          message: `unknown key${s ? ` — did you mean '${s}'?` : ""} (allowed at ${dottedPath(rootName, iss.path)}: ${allowed.join(", ")})`,
        });
      }
      continue;
    }
    let p = [...iss.path];
    while (p.length && typeof p[p.length - 1] === "number") p = p.slice(0, -1);
    const node = nodeAt(schema, p);
    const meta = metaOfSchema(node);
    const got = valueAt(input, p);
    if (meta.section) {
      out.push({ path: dottedPath(rootName, p), message: `expected a mapping of keys (${Object.keys(shapeOfSchema(node!) ?? {}).join(", ")}), got ${showValue(got)}` });
    } else if (iss.code === "custom") {
      out.push({ path: dottedPath(rootName, p), message: `${iss.message}; allowed: ${meta.allowed ?? "see the docs"}` });
    } else {
      out.push({ path: dottedPath(rootName, p), message: `${got === undefined ? "got nothing" : `got ${showValue(got)}`}; allowed: ${meta.allowed ?? iss.message}` });
    }
  }
  const seen = new Set<string>();
  return out.filter((i) => {
    const k = `${i.path}\u0000${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
