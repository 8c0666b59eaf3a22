// lightly_config: the self-supervised training settings a Lightly worker run takes, with Lightly's
// keys and defaults (lightly/cli/config/config.yaml, the lightly_config block of the worker docs).
// ONE zod schema is the source of truth: parsing fills the defaults, every leaf carries its allowed
// range and description as metadata, and the markdown table of the docs is generated from it.
//
// Strict: unknown keys are errors with a "did you mean" (Levenshtein over the keys allowed at that
// level); wrong values name the full path (lightly_config.collate.min_scale) and the allowed range.
// This module does not load the engine (no torch import), so configs are checked before anything starts.
// One idea at ~410 lines: the schema (most of the file, one entry per key) with its parser, key table and derived settings.
import { z } from "zod";
import { COLLATE_DEFAULTS } from "../transforms/config.js";
import { metaOfSchema, shapeOfSchema, showValue, zodConfigIssues } from "./issues.js";
import { LightlyConfigError } from "./config-error.js";

// Re-exported: other modules import these from here.
export { levenshtein, suggestKey, type ConfigIssue } from "./issues.js";

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

/**
 * Backbones: lightly's ResNetGenerator ones, then pretrained backbones by LightlyTrain's names
 * (torchvision's ImageNet ResNets, DINOv2 ViTs). The engine's registry holds the same; a test checks it.
 */
export const MODEL_NAMES = [
  "resnet-9", "resnet-18", "resnet-34", "resnet-50", "resnet-101", "resnet-152",
  "torchvision/resnet18", "torchvision/resnet34", "torchvision/resnet50", "torchvision/resnet101",
  "dinov2/vits14", "dinov2/vitb14",
] as const;

/** trainer.precision values: Lightning's spellings that mean full or mixed precision. */
export const PRECISION_VALUES = [32, 16, "32", "16", "32-true", "16-mixed", "bf16", "bf16-mixed"] as const;

const pair = (inner: z.ZodNumber) => z.tuple([inner, inner]);

// ---- the schema -------------------------------------------------------------------------------------

export const lightlyConfigSchema = z
  .strictObject({
    loader: section(
      {
        batch_size: leaf(int(1, 4096), 16, {
          allowed: "an integer in [1, 4096]",
          description: "Images per training step and per embedding batch.",
          winnow: "Capped at the number of images, as Lightly does. Lightly warns below 64 (small batches harm SimCLR); so does Winnow.",
        }),
        shuffle: leaf(z.boolean(), true, {
          allowed: "true or false",
          description: "Reshuffle the images every epoch.",
          winnow: "A permutation drawn from a seed derived from `seed` and the epoch, so runs and resumed runs repeat exactly.",
        }),
        num_workers: leaf(int(-1, 256), -1, {
          allowed: "an integer in [-1, 256]",
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
          winnow: "Also pretrained backbones (LightlyTrain's names): `torchvision/resnet18|34|50|101` (torchvision's ImageNet weights; embedding = pooled features, 512 or 2048) and `dinov2/vits14|vitb14` (DINOv2; embedding = CLS token, 384 or 768; input_size a multiple of 14). They start from the publisher's weight file (found in $WINNOW_HOME/models or torch hub's checkpoint folder); `width` and `num_ftrs` do not apply to them. See docs/embedding-model.md.",
        }),
        width: leaf(z.number().min(1 / 64).max(8), 1, {
          allowed: "a number in [0.015625, 8] (int(64·width) stem channels, at least 1)",
          description: "Width multiplier of the ResNet (64·width channels in the first stage).",
        }),
        num_ftrs: leaf(int(1, 8192), 32, {
          allowed: "an integer in [1, 8192]",
          description: "Embedding size: channels of the 1×1 conv after the ResNet, i.e. the embeddings' dimension D.",
        }),
        out_dim: leaf(int(1, 8192), 128, {
          allowed: "an integer in [1, 8192]",
          description: "Output size of the projection head, on which the NT-Xent loss is computed.",
          winnow: "By default the head is Lightly's CLI/worker head: Linear(num_ftrs, num_ftrs) → ReLU → Linear(num_ftrs, out_dim), no BatchNorm, so checkpoints load in the Lightly worker (see projection_head_batch_norm).",
        }),
        projection_head_batch_norm: leaf(z.boolean(), false, {
          allowed: "true or false",
          description: "Winnow key. true: lightly's current SimCLRProjectionHead, Linear(no bias) → BatchNorm1d → ReLU → Linear(no bias) → BatchNorm1d (keys projection_head.layers.{0,1,3,4}), as lightly's library trains SimCLR. false: the worker's head without BatchNorm.",
          winnow: "Fine-tuning from a checkpoint keeps the checkpoint's head. The library recipe (all three keys: projection_head_batch_norm true, input_batch_norm false, feature_conv false) gives better embeddings than the worker's model at the same steps: see docs/benchmarks.md, issue 20's ablation.",
        }),
        input_batch_norm: leaf(z.boolean(), true, {
          allowed: "true or false",
          description: "Winnow key. true: the worker/docs model's BatchNorm2d(3) on the input image (backbone.0). false: none, as lightly's library models (backbone.0 is then the stem conv).",
          winnow: "Fine-tuning from a checkpoint keeps the checkpoint's layout.",
        }),
        feature_conv: leaf(z.boolean(), true, {
          allowed: "true or false",
          description: "Winnow key. true: the worker/docs model's 1×1 conv from the ResNet's channels to num_ftrs. false: none, as lightly's library models; the embedding then has the ResNet's channels (512·width for resnet-9/18/34, 2048·width for resnet-50/101) and num_ftrs is not used.",
          winnow: "Fine-tuning from a checkpoint keeps the checkpoint's layout.",
        }),
      },
      "Passed to lightly.models.ResNetGenerator and the SimCLR model.",
    ),
    trainer: section(
      {
        gpus: leaf(int(0, 1024), 1, {
          allowed: "an integer in [0, 1024]",
          description: "Number of GPUs to train on.",
          winnow: "0 = train on the CPU. 1 = one CUDA GPU when one is available, else the CPU (with a note). N > 1 on a machine with CUDA: `winnow run` starts N ranks, one per GPU (CUDA device = LOCAL_RANK), data-parallel (docs/deployment.md); more GPUs than the machine has is an error. Without CUDA: one CPU rank, as for 1.",
        }),
        num_processes: leaf(int(1, 1024), 1, {
          allowed: "an integer in [1, 1024]",
          description: "Number of processes for data-parallel training on CPUs (PyTorch Lightning's Trainer(num_processes=N) with the CPU accelerator).",
          winnow: "`winnow run` starts this many CPU ranks on this machine (as `--nproc-per-node N`), each with the machine's cores divided among them unless worker_config.num_threads is set. Ignored when trainer.gpus > 1 starts GPU ranks.",
        }),
        max_epochs: leaf(int(1, 10_000), 100, {
          allowed: "an integer in [1, 10000]",
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
        gather_distributed: leaf(z.boolean(), false, {
          allowed: "true or false",
          description: "With several ranks: take the negatives from every rank's batch (gathered with gradients), not only this rank's.",
          winnow: "As lightly.loss.NTXentLoss(gather_distributed=...); ignored when training in one process.",
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
        lr_schedule: leaf(z.enum(["constant", "cosine"]), "constant", {
          allowed: "constant or cosine",
          description: "Not in Lightly's config.yaml (Lightly trains at a constant lr). cosine: the lr decays from optimizer.lr to 0 along a half cosine over all the run's steps (max_epochs × steps per epoch), set before every step.",
          winnow: "Optional; the lr is a function of the step number, so a resumed run continues on the same curve.",
        }),
      },
      "Passed to torch.optim.SGD.",
    ),
    collate: section(
      {
        input_size: leaf(int(1, 1024), COLLATE_DEFAULTS.input_size, {
          allowed: "an integer in [1, 1024]",
          description: "Side of the square views (training) and of the embedding input, in pixels.",
          winnow: "The image cache stores each image once at cacheSizeFor(input_size) (12.5% larger, for crops), squashed; crop boxes are drawn in the original's pixels, so crops keep the original's aspect ratios.",
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
        save_top_k: leaf(int(-1, 10_000), 1, {
          allowed: "an integer in [-1, 10000]",
          description: "Keep the k best epochs by loss as lightly_epoch_{epoch}.ckpt (-1 = all, 0 = none).",
          winnow: "Ranked by the epoch's mean loss.",
        }),
        dirpath: leaf(z.union([z.null(), z.string().min(1).max(4096)]), null, {
          allowed: "null or a non-empty path",
          description: "Where checkpoints are stored (null = the run's output folder).",
          winnow: "Scheduled runs (winnow worker): only a folder relative to the run folder, without `..` (the server refuses others with 400, the worker resolves it inside the run folder).",
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
    pre_trained: leaf(z.boolean(), true, {
      allowed: "true or false",
      description: "Whether to start from a pre-trained model (Lightly's model zoo) or not.",
      winnow: "When no worker_config.checkpoint, checkpoint_run_id or datapool checkpoint applies, the model starts from Lightly's zoo checkpoint for (model.name, num_ftrs, width) (six entries: resnet-9 w0.0625/w0.125 d16, resnet-18 and resnet-34 w1 d16/d32), for embedding and as the start of training. The file is looked up in $WINNOW_HOME/models, then $TORCH_HOME/hub/checkpoints, then downloaded (WINNOW_MODEL_MIRROR, WINNOW_OFFLINE; docs/quickstart.md). A model with no zoo entry starts from random weights with a warning, as in Lightly. false: random initialisation, nothing is looked up.",
    }),
  });

/** The resolved lightly_config: every key present, defaults filled in. */
export type LightlyConfig = z.output<typeof lightlyConfigSchema>;
/** What a user may write: any subset of the keys. */
export type LightlyConfigInput = z.input<typeof lightlyConfigSchema>;

// ---- errors ---------------------------------------------------------------------------------------

export { LightlyConfigError };

// Schema walking and error messages are shared with the other config sections (issues.ts).
type AnyZ = z.ZodType;
const shapeOf = (s: AnyZ): Record<string, AnyZ> | null => shapeOfSchema(s);
const metaOf = (s: AnyZ | null): Partial<FieldMeta & SectionMeta> => metaOfSchema(s) as Partial<FieldMeta & SectionMeta>;

// ---- API ----------------------------------------------------------------------------------------------

/**
 * Checks a lightly_config object (undefined/null = all defaults) and returns it with every default
 * filled in. Throws LightlyConfigError listing every problem at once.
 */
export function parseLightlyConfig(obj: unknown): LightlyConfig {
  const input = obj === undefined || obj === null ? {} : obj;
  if (typeof input !== "object" || Array.isArray(input)) {
    throw new LightlyConfigError([{ path: "lightly_config", message: `expected a mapping of keys, got ${showValue(input)}` }]);
  }
  const r = lightlyConfigSchema.safeParse(input);
  if (!r.success) throw new LightlyConfigError(zodConfigIssues(lightlyConfigSchema, r.error, input, "lightly_config"));
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
  inputBatchNorm: boolean;
  featureConv: boolean;
}

/** What a checkpoint dictates about the model's layout (overrides the config's keys when fine-tuning or embedding from it). */
export interface LayoutOverride {
  projectionHeadBatchNorm?: boolean | null;
  inputBatchNorm?: boolean;
  featureConv?: boolean;
}

/**
 * lightly_config.model as the engine's ModelConfig. The defaults are Lightly's CLI/worker model (input
 * BatchNorm, 1×1 conv, head without BatchNorm): checkpoints then load in the Lightly worker.
 */
export function modelSettingsOf(cfg: LightlyConfig, opts: LayoutOverride = {}): ModelSettings {
  return {
    name: cfg.model.name,
    width: cfg.model.width,
    numFtrs: cfg.model.num_ftrs,
    outDim: cfg.model.out_dim,
    projectionHeadBatchNorm: opts.projectionHeadBatchNorm ?? cfg.model.projection_head_batch_norm,
    inputBatchNorm: opts.inputBatchNorm ?? cfg.model.input_batch_norm,
    featureConv: opts.featureConv ?? cfg.model.feature_conv,
  };
}

/** "32" (float32) or "mixed" (autocast; bfloat16 on CUDA). */
export function precisionMode(cfg: LightlyConfig): "32" | "mixed" {
  const p = cfg.trainer.precision as (typeof PRECISION_VALUES)[number];
  return p === 32 || p === "32" || p === "32-true" ? "32" : "mixed";
}
