// lightly_config: the self-supervised training settings a Lightly worker run takes, with Lightly's
// keys and defaults (lightly/cli/config/config.yaml, the lightly_config block of the worker docs).
// ONE zod schema is the source of truth: parsing fills the defaults, every leaf carries its allowed
// range and description as metadata, and the markdown table of the docs is generated from it.
//
// Strict: unknown keys are errors with a "did you mean" (Levenshtein over the keys allowed at that
// level); wrong values name the full path (lightly_config.collate.min_scale) and the allowed range.
// This module does not load the engine (no torch import), so configs are checked before anything starts.
import { z } from "zod";
import { COLLATE_DEFAULTS } from "../transforms/config.js";

// ---- leaf and section builders --------------------------------------------------------------------

/** Metadata on every leaf: what values are allowed (used in errors and the docs table), what it does. */
export interface FieldMeta {
  /** e.g. "a number in (0, 1]"; shown in errors as "allowed: …". */
  allowed: string;
  /** What the key does (Lightly's meaning). */
  description: string;
  /** How Winnow uses it, where that differs from Lightly or needs saying. */
  winnow?: string;
}

interface SectionMeta {
  section: true;
  description: string;
}

function leaf<T extends z.ZodType>(schema: T, def: z.output<T>, meta: FieldMeta) {
  // A fresh copy per parse for arrays, so callers can never mutate the defaults.
  const d = Array.isArray(def) ? () => structuredClone(def) : def;
  return schema.default(d as never).meta(meta as unknown as Record<string, unknown>);
}

function section<S extends z.ZodRawShape>(
  shape: S, description: string, refine?: (v: z.output<z.ZodObject<S>>, ctx: z.RefinementCtx) => void,
) {
  const obj = z.strictObject(shape);
  const checked = refine ? obj.superRefine(refine as never) : obj;
  return checked.prefault({} as never).meta({ section: true, description } satisfies SectionMeta as unknown as Record<string, unknown>);
}

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.number().int().min(min).max(max);
const prob = () => z.number().min(0).max(1);
const nonNeg = () => z.number().min(0).max(Number.MAX_VALUE);

/** Backbones lightly's ResNetGenerator builds (the engine's registry holds the same; a test checks it). */
export const MODEL_NAMES = ["resnet-9", "resnet-18", "resnet-34", "resnet-50", "resnet-101", "resnet-152"] as const;

/** trainer.precision values: Lightning's spellings that mean full or mixed precision. */
export const PRECISION_VALUES = [32, 16, "32", "16", "32-true", "16-mixed", "bf16", "bf16-mixed"] as const;

const pair = (inner: z.ZodNumber) => z.tuple([inner, inner]);

// ---- the schema -------------------------------------------------------------------------------------

export const lightlyConfigSchema = z
  .strictObject({
    loader: section(
      {
        batch_size: leaf(int(1), 16, {
          allowed: "an integer ≥ 1",
          description: "Images per training step and per embedding batch.",
          winnow: "Capped at the number of images, as Lightly does. Lightly warns below 64 (small batches harm SimCLR); so does Winnow.",
        }),
        shuffle: leaf(z.boolean(), true, {
          allowed: "true or false",
          description: "Reshuffle the images every epoch.",
          winnow: "A permutation drawn from a seed derived from `seed` and the epoch, so runs and resumed runs repeat exactly.",
        }),
        num_workers: leaf(int(-1, 1024), -1, {
          allowed: "an integer ≥ -1",
          description: "Background workers preparing batches; -1 = the number of CPU cores.",
          winnow: "Images are decoded once into the image cache: this is the number of decodes in flight while it is built (-1 = CPU cores). Training reads the cache and needs no loader processes.",
        }),
        drop_last: leaf(z.boolean(), true, {
          allowed: "true or false",
          description: "Drop the last incomplete batch of each training epoch.",
          winnow: "Embedding never drops images (as Lightly). A last training batch of 1 image is always skipped (NT-Xent needs 2).",
        }),
      },
      "Passed to torch.utils.data.DataLoader by Lightly.",
    ),
    model: section(
      {
        name: leaf(z.enum(MODEL_NAMES), "resnet-18", {
          allowed: MODEL_NAMES.map((n) => `"${n}"`).join(", "),
          description: "Backbone: lightly's ResNetGenerator architecture (CIFAR-style 3×3 stem, no max-pool).",
        }),
        width: leaf(z.number().min(1 / 64).max(64), 1, {
          allowed: "a number in [0.015625, 64] (int(64·width) stem channels, at least 1)",
          description: "Width multiplier of the ResNet (64·width channels in the first stage).",
        }),
        num_ftrs: leaf(int(1, 65536), 32, {
          allowed: "an integer in [1, 65536]",
          description: "Embedding size: channels of the 1×1 conv after the ResNet, i.e. the embeddings' dimension D.",
        }),
        out_dim: leaf(int(1, 65536), 128, {
          allowed: "an integer in [1, 65536]",
          description: "Output size of the projection head, on which the NT-Xent loss is computed.",
          winnow: "The head is Lightly's CLI/worker head: Linear(num_ftrs, num_ftrs) → ReLU → Linear(num_ftrs, out_dim), no BatchNorm, so checkpoints load in the Lightly worker.",
        }),
      },
      "Passed to lightly.models.ResNetGenerator and the SimCLR model.",
    ),
    trainer: section(
      {
        gpus: leaf(int(0, 1024), 1, {
          allowed: "an integer ≥ 0",
          description: "Number of GPUs to train on.",
          winnow: "0 = train on the CPU. ≥ 1 = one CUDA GPU when one is available, else the CPU (with a note). Winnow trains on one device; values above 1 use one GPU.",
        }),
        max_epochs: leaf(int(1, 1_000_000), 100, {
          allowed: "an integer in [1, 1000000]",
          description: "Number of epochs to train for.",
        }),
        precision: leaf(z.literal(PRECISION_VALUES), 32, {
          allowed: PRECISION_VALUES.map((v) => JSON.stringify(v)).join(", "),
          description: "32 = full precision; 16 = mixed precision.",
          winnow: "On CUDA, 16 / \"16-mixed\" / \"bf16\" / \"bf16-mixed\" run the forward pass under autocast in bfloat16 (no loss scaling needed; weights, optimizer and loss stay float32). On the CPU mixed precision is ignored (with a note) and training runs in float32.",
        }),
        enable_model_summary: leaf(z.boolean(), true, {
          allowed: "true or false",
          description: "Print a model summary before training.",
          winnow: "Winnow logs the model's parameter count instead of a layer table.",
        }),
        weights_summary: leaf(z.union([z.null(), z.enum(["top", "full", "None"])]), null, {
          allowed: 'null, "top", "full", "None"',
          description: "Deprecated Lightning option (use enable_model_summary).",
          winnow: "Accepted and ignored.",
        }),
      },
      "Passed to pytorch_lightning.Trainer by Lightly.",
    ),
    criterion: section(
      {
        temperature: leaf(z.number().min(1e-8).max(1e6), 0.5, {
          allowed: "a number in [1e-8, 1e6]",
          description: "NT-Xent temperature: the cosine similarities are divided by it.",
        }),
        memory_bank_size: leaf(z.literal(0), 0, {
          allowed: "0 (memory banks are not supported)",
          description: "Size of the negative memory bank (0 = none).",
        }),
      },
      "Passed to lightly.loss.NTXentLoss.",
    ),
    optimizer: section(
      {
        lr: leaf(nonNeg(), 1, {
          allowed: "a number ≥ 0",
          description: "Learning rate of SGD (constant: Lightly's CLI and worker use no schedule).",
        }),
        weight_decay: leaf(nonNeg(), 0.00001, {
          allowed: "a number ≥ 0",
          description: "L2 penalty (SGD's weight_decay, applied to every parameter).",
        }),
        momentum: leaf(z.number().min(0).lt(1), 0, {
          allowed: "a number in [0, 1)",
          description: "SGD momentum. Not in Lightly's config.yaml: Lightly passes the optimizer keys to torch.optim.SGD, whose default momentum is 0, which is what Lightly trains with.",
          winnow: "Optional; momentum buffers are saved in every epoch checkpoint so a resumed run continues exactly.",
        }),
      },
      "Passed to torch.optim.SGD.",
    ),
    collate: section(
      {
        input_size: leaf(int(1, 4096), COLLATE_DEFAULTS.input_size, {
          allowed: "an integer in [1, 4096]",
          description: "Side of the square views (training) and of the embedding input, in pixels.",
          winnow: "The image cache stores each image once at cacheSizeFor(input_size) (12.5% larger, for crops).",
        }),
        cj_prob: leaf(prob(), COLLATE_DEFAULTS.cj_prob, { allowed: "a number in [0, 1]", description: "Probability that color jitter is applied." }),
        cj_bright: leaf(nonNeg(), COLLATE_DEFAULTS.cj_bright, { allowed: "a number ≥ 0", description: "Color jitter brightness strength." }),
        cj_contrast: leaf(nonNeg(), COLLATE_DEFAULTS.cj_contrast, { allowed: "a number ≥ 0", description: "Color jitter contrast strength." }),
        cj_sat: leaf(nonNeg(), COLLATE_DEFAULTS.cj_sat, { allowed: "a number ≥ 0", description: "Color jitter saturation strength." }),
        cj_hue: leaf(z.number().min(0).max(0.5), COLLATE_DEFAULTS.cj_hue, { allowed: "a number in [0, 0.5]", description: "Color jitter hue strength." }),
        min_scale: leaf(z.number().gt(0).max(1), COLLATE_DEFAULTS.min_scale, {
          allowed: "a number in (0, 1]",
          description: "Smallest area of the random resized crop, as a fraction of the image.",
        }),
        random_gray_scale: leaf(prob(), COLLATE_DEFAULTS.random_gray_scale, { allowed: "a number in [0, 1]", description: "Probability of converting a view to grayscale." }),
        gaussian_blur: leaf(prob(), COLLATE_DEFAULTS.gaussian_blur, { allowed: "a number in [0, 1]", description: "Probability of Gaussian blur." }),
        kernel_size: leaf(z.union([z.null(), z.number().gt(0).max(Number.MAX_VALUE)]), COLLATE_DEFAULTS.kernel_size, {
          allowed: "null or a number > 0",
          description: "Deprecated in favour of sigmas.",
          winnow: "Accepted and ignored, as current Lightly ignores it (sigmas decide the blur).",
        }),
        sigmas: leaf(pair(z.number().gt(0).max(1e6)), [...COLLATE_DEFAULTS.sigmas] as [number, number], {
          allowed: "[min, max] with 0 < min ≤ max",
          description: "The blur's sigma is drawn uniformly from [min, max] (pixels).",
        }),
        vf_prob: leaf(prob(), COLLATE_DEFAULTS.vf_prob, { allowed: "a number in [0, 1]", description: "Probability of a vertical flip." }),
        hf_prob: leaf(prob(), COLLATE_DEFAULTS.hf_prob, { allowed: "a number in [0, 1]", description: "Probability of a horizontal flip." }),
        rr_prob: leaf(prob(), COLLATE_DEFAULTS.rr_prob, { allowed: "a number in [0, 1]", description: "Probability of a random rotation." }),
        rr_degrees: leaf(
          z.union([z.null(), z.number().min(0).max(360), pair(z.number().min(-360).max(360))]),
          COLLATE_DEFAULTS.rr_degrees as null,
          {
            allowed: "null, a number in [0, 360], or [min, max] with -360 ≤ min ≤ max ≤ 360",
            description: "null = rotate by 90° (with rr_prob); d = a random angle in [-d, d]; [min, max] = a random angle in [min, max]; counter-clockwise.",
          },
        ),
      },
      "Passed to lightly.data.ImageCollateFunction: the SimCLR augmentations.",
      (c, ctx) => {
        const [s0, s1] = c.sigmas as [number, number];
        if (s0 > s1) ctx.addIssue({ code: "custom", path: ["sigmas"], message: `min ${s0} is larger than max ${s1}` });
        const rr = c.rr_degrees as number | [number, number] | null;
        if (Array.isArray(rr) && rr[0] > rr[1]) ctx.addIssue({ code: "custom", path: ["rr_degrees"], message: `min ${rr[0]} is larger than max ${rr[1]}` });
      },
    ),
    checkpoint_callback: section(
      {
        save_last: leaf(z.boolean(), true, {
          allowed: "true or false",
          description: "Keep the checkpoint of the last epoch (last.ckpt).",
          winnow: "last.ckpt is written atomically at the end of every epoch (it is the resume point); with false it is removed when training completes.",
        }),
        save_top_k: leaf(int(-1, 1_000_000), 1, {
          allowed: "an integer ≥ -1",
          description: "Keep the k best epochs by loss as lightly_epoch_{epoch}.ckpt (-1 = all, 0 = none).",
          winnow: "Ranked by the epoch's mean loss.",
        }),
        dirpath: leaf(z.union([z.null(), z.string().min(1)]), null, {
          allowed: "null or a non-empty path",
          description: "Where checkpoints are stored (null = the run's output folder).",
        }),
      },
      "Modifies the checkpoint callback (pytorch_lightning ModelCheckpoint).",
    ),
    summary_callback: section(
      {
        max_depth: leaf(int(-1, 1000), 1, {
          allowed: "an integer ≥ -1",
          description: "Depth of the model summary table.",
          winnow: "Accepted and ignored.",
        }),
      },
      "Modifies the model summary callback.",
    ),
    resize: leaf(z.union([z.literal(-1), int(1, 1 << 20), pair(z.number().int().min(1).max(1 << 20))]), -1, {
      allowed: "-1, an integer ≥ 1, or [height, width] integers ≥ 1",
      description: "Resize images before uploading them to the Lightly Platform (-1 = no resizing).",
      winnow: "Winnow uploads nothing: accepted and ignored.",
    }),
    seed: leaf(int(0, 2 ** 53 - 1), 1, {
      allowed: "an integer in [0, 2^53 - 1]",
      description: "Random seed (torch.manual_seed) for the model's initialisation, shuffling and augmentations.",
      winnow: "Each epoch's permutation and each step's augmentations use seeds derived from it, so a resumed run matches an uninterrupted one.",
    }),
  });

/** The resolved lightly_config: every key present, defaults filled in. */
export type LightlyConfig = z.output<typeof lightlyConfigSchema>;
/** What a user may write: any subset of the keys. */
export type LightlyConfigInput = z.input<typeof lightlyConfigSchema>;

// ---- errors ---------------------------------------------------------------------------------------

export interface ConfigIssue {
  /** Full dotted path, e.g. "lightly_config.collate.min_scale". */
  path: string;
  message: string;
}

export class LightlyConfigError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(`invalid lightly_config:\n${issues.map((i) => `  - ${i.path}: ${i.message}`).join("\n")}`);
    this.name = "LightlyConfigError";
  }
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

// Schema walking: the ZodObject shape under a path, and the leaf at a path.
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
function shapeOf(s: AnyZ): Record<string, AnyZ> | null {
  const u = unwrap(s);
  const def = u._zod.def as unknown as { type: string; shape?: Record<string, AnyZ> };
  return def.type === "object" && def.shape ? def.shape : null;
}
function nodeAt(path: readonly PropertyKey[]): AnyZ | null {
  let cur: AnyZ | null = lightlyConfigSchema as unknown as AnyZ;
  for (const p of path) {
    if (!cur) return null;
    const sh = shapeOf(cur);
    if (!sh || typeof p !== "string" || !(p in sh)) return cur; // into a tuple: stay on the leaf
    cur = sh[p];
  }
  return cur;
}
const metaOf = (s: AnyZ | null): Partial<FieldMeta & SectionMeta> =>
  ((s as unknown as { meta(): Record<string, unknown> | undefined } | null)?.meta?.() ?? {}) as Partial<FieldMeta & SectionMeta>;

function show(v: unknown): string {
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
const dotted = (path: readonly PropertyKey[]): string =>
  ["lightly_config", ...path.map((p) => (typeof p === "number" ? `[${p}]` : String(p)))].join(".").replace(/\.\[/g, "[");

function toIssues(err: z.ZodError, input: unknown): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const iss of err.issues) {
    if (iss.code === "unrecognized_keys") {
      const node = nodeAt(iss.path);
      const allowed = Object.keys((node && shapeOf(node)) ?? {});
      for (const key of iss.keys) {
        const s = suggestKey(key, allowed);
        out.push({
          path: dotted([...iss.path, key]),
          message: `unknown key${s ? ` — did you mean '${s}'?` : ""} (allowed at ${dotted(iss.path)}: ${allowed.join(", ")})`,
        });
      }
      continue;
    }
    // Report at the leaf that has the metadata (a tuple element's error goes to its tuple).
    let p = [...iss.path];
    let node = nodeAt(p);
    while (p.length && typeof p[p.length - 1] === "number") p = p.slice(0, -1);
    node = nodeAt(p);
    const meta = metaOf(node);
    const got = valueAt(input, p);
    if (meta.section) {
      out.push({ path: dotted(p), message: `expected a mapping of keys (${Object.keys(shapeOf(node!) ?? {}).join(", ")}), got ${show(got)}` });
    } else if (iss.code === "custom") {
      out.push({ path: dotted(p), message: `${iss.message}; allowed: ${meta.allowed ?? "see the docs"}` });
    } else {
      const detail = got === undefined ? "got nothing" : `got ${show(got)}`;
      out.push({ path: dotted(p), message: `${detail}; allowed: ${meta.allowed ?? iss.message}` });
    }
  }
  // One line per path and message.
  const seen = new Set<string>();
  return out.filter((i) => {
    const k = `${i.path}\u0000${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

// ---- API ----------------------------------------------------------------------------------------------

/**
 * Checks a lightly_config object (undefined/null = all defaults) and returns it with every default
 * filled in. Throws LightlyConfigError listing every problem at once.
 */
export function parseLightlyConfig(obj: unknown): LightlyConfig {
  const input = obj === undefined || obj === null ? {} : obj;
  if (typeof input !== "object" || Array.isArray(input)) {
    throw new LightlyConfigError([{ path: "lightly_config", message: `expected a mapping of keys, got ${show(input)}` }]);
  }
  const r = lightlyConfigSchema.safeParse(input);
  if (!r.success) throw new LightlyConfigError(toIssues(r.error, input));
  return r.data;
}

/** Lightly's defaults (a fresh copy each call). */
export function lightlyConfigDefaults(): LightlyConfig {
  return parseLightlyConfig({});
}

/** One row per key of the docs table. */
export interface ConfigKeyDoc {
  key: string;
  default: unknown;
  allowed: string;
  description: string;
  winnow?: string;
}

/** Every leaf key with its default, allowed values and description, in schema order. */
export function lightlyConfigKeys(): ConfigKeyDoc[] {
  const defaults = lightlyConfigDefaults() as unknown as Record<string, unknown>;
  const rows: ConfigKeyDoc[] = [];
  const walk = (node: AnyZ, path: string[], def: unknown): void => {
    const sh = shapeOf(node);
    if (sh) {
      for (const [k, child] of Object.entries(sh)) walk(child, [...path, k], (def as Record<string, unknown>)[k]);
      return;
    }
    const m = metaOf(node);
    rows.push({ key: path.join("."), default: def, allowed: m.allowed ?? "", description: m.description ?? "", winnow: m.winnow });
  };
  walk(lightlyConfigSchema as unknown as AnyZ, [], defaults);
  return rows;
}

const fmtDefault = (v: unknown): string => (v === null ? "null" : typeof v === "string" ? `"${v}"` : Array.isArray(v) ? `[${v.join(", ")}]` : String(v));
const cell = (s: string): string => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

/** The markdown table of every lightly_config key (generated from the schema: the docs' source of truth). */
export function lightlyConfigMarkdown(): string {
  const lines = [
    "| Key | Default | Allowed | Description |",
    "| --- | --- | --- | --- |",
  ];
  for (const r of lightlyConfigKeys()) {
    const desc = r.winnow ? `${r.description} **Winnow:** ${r.winnow}` : r.description;
    lines.push(`| \`${r.key}\` | \`${fmtDefault(r.default)}\` | ${cell(r.allowed)} | ${cell(desc)} |`);
  }
  return lines.join("\n") + "\n";
}

// ---- derived settings ----------------------------------------------------------------------------------

/** The engine's model settings (camelCase ModelConfig) for a lightly_config. */
export interface ModelSettings {
  name: string;
  width: number;
  numFtrs: number;
  outDim: number;
  projectionHeadBatchNorm: boolean;
}

/**
 * lightly_config.model as the engine's ModelConfig. The projection head defaults to Lightly's
 * CLI/worker variant (no BatchNorm): checkpoints then load in the Lightly worker.
 */
export function modelSettingsOf(cfg: LightlyConfig, opts: { projectionHeadBatchNorm?: boolean } = {}): ModelSettings {
  return {
    name: cfg.model.name,
    width: cfg.model.width,
    numFtrs: cfg.model.num_ftrs,
    outDim: cfg.model.out_dim,
    projectionHeadBatchNorm: opts.projectionHeadBatchNorm ?? false,
  };
}

/** "32" (float32) or "mixed" (autocast; bfloat16 on CUDA). */
export function precisionMode(cfg: LightlyConfig): "32" | "mixed" {
  const p = cfg.trainer.precision as (typeof PRECISION_VALUES)[number];
  return p === 32 || p === "32" || p === "32-true" ? "32" : "mixed";
}
