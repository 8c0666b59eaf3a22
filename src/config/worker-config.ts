// worker_config: the run-level settings of a Lightly worker run (the `worker_config` argument of
// schedule_compute_worker_run; keys and defaults from Lightly's configuration-options page and the
// client's DockerWorkerConfigV3Docker model). One strict zod schema: defaults filled in, unknown keys
// get a "did you mean", bad values name the path and the allowed values. Keys Winnow accepts but has
// no use for on one machine (uploads, pretagging) are accepted with their Lightly defaults only, so a
// pasted Lightly config that does not rely on them runs unchanged; `winnow` metadata says so.
// No engine import: configs are checked before anything starts.
import { z } from "zod";
import type { FieldMeta } from "./lightly-config.js";
import { zodConfigIssues, shapeOfSchema, metaOfSchema, showValue } from "./issues.js";
import { WorkerConfigError } from "./config-error.js";

function leaf<T extends z.ZodType>(schema: T, def: z.output<T>, meta: FieldMeta) {
  return schema.default(def as never).meta(meta as unknown as Record<string, unknown>);
}
function section<S extends z.ZodRawShape>(shape: S, description: string) {
  return z.strictObject(shape).prefault({} as never).meta({ section: true, description });
}
const str = () => z.string().max(4096);
/** Lightly's pattern for prediction task names. */
const TASK_NAME = /^[a-zA-Z0-9_+=,.@:/-]*$/;

export const workerConfigSchema = z
  .strictObject({
    enable_training: leaf(z.boolean(), false, {
      allowed: "true or false",
      description: "Train the self-supervised model on the input images before embedding them.",
      winnow: "With a checkpoint (checkpoint, checkpoint_run_id or the datapool's), training continues from its weights; without, it starts from a random initialisation.",
    }),
    training: section(
      {
        task_name: leaf(z.string().max(256).regex(TASK_NAME), "", {
          allowed: '"" (whole images) or an object-detection task of the predictions folder (letters, digits and _+=,.@:/-)',
          description: "Prediction task whose object crops the model is trained on (\"\" = whole images).",
          winnow: "Needs enable_training. The crops are cut as for crop selection (object_level.padding); predictions are read from <input>/.lightly/predictions or --lightly-path.",
        }),
      },
      "Training settings beyond lightly_config.",
    ),
    object_level: section(
      {
        padding: leaf(z.number().min(0).max(10), 0.1, {
          allowed: "a number in [0, 10]",
          description: "Padding around each object's box, relative to its size: 0.1 widens and heightens the box by 10% on each side (clipped to the image).",
          winnow: "Lightly's object_level.padding; used for crop selection (an EMBEDDINGS input with a task) and for training on crops (training.task_name).",
        }),
      },
      "Object crops (crop selection and training on crops).",
    ),
    checkpoint: leaf(z.union([str(), z.null().transform(() => "")]), "", {
      allowed: 'a file path, an http(s) URL, or "" (none)',
      description: "A checkpoint to embed with (enable_training false) or to continue training from (enable_training true).",
      winnow: "A local path or an http(s) URL (e.g. a pre-signed URL); downloads have a timeout and a size limit (WINNOW_DOWNLOAD_TIMEOUT_MS, WINNOW_DOWNLOAD_MAX_BYTES). Incompatible with checkpoint_run_id.",
    }),
    checkpoint_run_id: leaf(z.union([str(), z.null().transform(() => "")]), "", {
      allowed: 'the id of an earlier run with a checkpoint (see `winnow runs`), or ""',
      description: "Reuse the checkpoint of an earlier run. Incompatible with checkpoint.",
      winnow: "Runs are looked up in the local runs index ($WINNOW_HOME/runs, default ~/.winnow/runs).",
    }),
    embeddings: leaf(z.union([str(), z.null().transform(() => "")]), "", {
      allowed: 'a path to an embeddings CSV in Lightly\'s format, or ""',
      description: "Custom embeddings (filenames,embedding_0..embedding_{D-1},labels): they replace the embedding step.",
      winnow: "Every usable image of the input must have a row; rows for files not in the input are ignored (with a note).",
    }),
    normalize_embeddings: leaf(z.boolean(), true, {
      allowed: "true or false",
      description: "L2-normalise the embeddings before selection (the written embeddings are not normalised).",
    }),
    use_datapool: leaf(z.boolean(), false, {
      allowed: "true or false",
      description: "Keep adding to the selection of earlier runs over the same input: earlier selections count as selected, and the newest earlier checkpoint is reused.",
      winnow: "Earlier runs are the COMPLETED local runs over the same input folder (real path); never reselects their samples.",
    }),
    remove_exact_duplicates: leaf(z.boolean(), true, {
      allowed: "true or false",
      description: "Drop files whose bytes equal an earlier file's (listed in filenames/duplicate_filenames.txt).",
    }),
    corruptness_check: section(
      {
        corruption_threshold: leaf(z.number().min(0).max(1), 0.1, {
          allowed: "a number in [0, 1]",
          description: "Share of a video's frames that may be undecodable before the whole video counts as corrupt.",
          winnow: "A video whose share of undecodable frames exceeds the threshold is dropped whole (its usable frames too) and listed under corrupt_videos in data/corruptness_check_information.json with the reason; below it only the undecodable frames are dropped. Images: every file that cannot be decoded is listed (filenames/corrupt_filenames.txt). Lightly used the key for its broken-frame detector and deprecated it in worker 2.7.",
        }),
      },
      "Corrupt image detection.",
    ),
    datasource: section(
      {
        bypass_verify: leaf(z.boolean(), false, { allowed: "true or false", description: "Skip the datasource permission check.", winnow: "Local folders need no check: accepted and ignored." }),
        enable_datapool_update: leaf(z.boolean(), true, {
          allowed: "true or false",
          description: "Record this run's selection in the datapool.",
          winnow: "With false a use_datapool run is not counted by later datapool runs.",
        }),
        process_all: leaf(z.boolean(), false, {
          allowed: "true or false",
          description: "Process every file, not only those added since the last run.",
          winnow: "Winnow always processes the whole folder (decoding is cached): accepted and ignored.",
        }),
      },
      "Datasource settings.",
    ),
    max_retries: leaf(z.number().int().min(0).max(10), 0, {
      allowed: "an integer in [0, 10]",
      description: "Winnow's addition (service only): how many times a CRASHED run is resumed automatically on another worker.",
      winnow: "0 (default): a CRASHED run stays CRASHED. N ≥ 1: when the dead-worker policy ends a run CRASHED and it uploaded a checkpoint, the server queues it again (at most N times) and the next worker resumes training from that checkpoint. `winnow run` ignores it (use --resume).",
    }),

    num_processes: leaf(z.number().int().min(-1).max(256), -1, {
      allowed: "an integer in [-1, 256]",
      description: "Worker processes for data loading (-1 = automatic).",
      winnow: "Accepted and ignored: decoding concurrency is lightly_config.loader.num_workers.",
    }),
    num_threads: leaf(z.number().int().min(-1).max(256), -1, {
      allowed: "an integer in [-1, 256]",
      description: "Threads for computation (-1 = automatic).",
      winnow: "≥ 1 sets libtorch's intra-op threads; -1 keeps the engine's default (the CPU's cores).",
    }),
    output_image_format: leaf(z.enum(["png", "jpg", "jpeg"]), "png", {
      allowed: '"png", "jpg", "jpeg"',
      description: "Format of images the worker writes (video frames, crops).",
      winnow: "The selected video frames are written at their full size into <output>/frames/, named as in selected_filenames.txt with this extension (\"jpeg\" writes .jpg). Crops are not written.",
    }),
    pretagging: leaf(z.literal(false), false, { allowed: "false (pretagging is not supported)", description: "Run Lightly's pretagging model." }),
    pretagging_upload: leaf(z.literal(false), false, { allowed: "false (pretagging is not supported)", description: "Upload the pretagging results." }),
    relevant_filenames_file: leaf(z.string().max(4096), "", {
      allowed: 'a path (relative to the input folder, or to --lightly-path when given), or "" for every file',
      description: "A text file listing the only filenames (one per line, relative to the input folder) the run selects from.",
      winnow: "The selection considers only the listed files; training and embedding still read the whole folder. A missing file fails the run at INITIALIZING.",
    }),
    selected_sequence_length: leaf(z.number().int().min(1).max(100_000), 1, {
      allowed: "an integer ≥ 1",
      description: "Select sequences of this many consecutive frames of one video (1 = single frames).",
      winnow: "Each video is cut into sequences of N consecutive frames from its first (a last shorter piece, or a sequence with an undecodable frame, is not selectable); a sequence's embedding is the mean of its frames'; the selection picks sequences. n_samples must be a multiple of N; proportion_samples is rounded up to one. Images are not selectable. Only EMBEDDINGS (without a task) and RANDOM inputs; no use_datapool or relevant_filenames_file.",
    }),
    videos: leaf(z.boolean(), true, {
      allowed: "true or false",
      description: "Winnow's addition: take video files of the input (mp4, mov, avi, mkv, webm), each frame a sample named as the Lightly worker names frames.",
      winnow: "Lightly decides by the dataset type (IMAGES or VIDEOS); a local folder has none, so videos are taken unless this is false (then video files are ignored). Decoded with Debian's ffmpeg.",
    }),
    shutdown_when_job_finished: leaf(z.boolean(), false, {
      allowed: "true or false",
      description: "Stop the worker once this run has finished.",
      winnow: "`winnow run` always ends with its run, so both values mean the same there. A `winnow worker` exits after a run whose worker_config sets it (or after its first run when started with --shutdown-when-job-finished).",
    }),
    upload_report: leaf(z.boolean(), false, { allowed: "true or false", description: "Upload the report to the Lightly Platform.", winnow: "Nothing is uploaded; the report is written into the run folder." }),
  })
  .superRefine((c, ctx) => {
    if (c.checkpoint && c.checkpoint_run_id) {
      ctx.addIssue({ code: "custom", path: ["checkpoint_run_id"], message: `checkpoint and checkpoint_run_id are both set (${JSON.stringify(c.checkpoint)} and ${JSON.stringify(c.checkpoint_run_id)}); give one` });
    }
    if (c.embeddings && c.enable_training) {
      ctx.addIssue({ code: "custom", path: ["enable_training"], message: "custom embeddings replace the embedding step, so a trained model would not be used; set enable_training false or drop embeddings" });
    }
  });

export type WorkerConfig = z.output<typeof workerConfigSchema>;
export type WorkerConfigInput = z.input<typeof workerConfigSchema>;

export { WorkerConfigError };

/** Checks a worker_config object (undefined/null = defaults); throws WorkerConfigError listing every problem. */
export function parseWorkerConfig(obj: unknown): WorkerConfig {
  const input = obj === undefined || obj === null ? {} : obj;
  if (typeof input !== "object" || Array.isArray(input)) {
    throw new WorkerConfigError([{ path: "worker_config", message: `expected a mapping of keys, got ${showValue(input)}` }]);
  }
  const r = workerConfigSchema.safeParse(input);
  if (!r.success) throw new WorkerConfigError(zodConfigIssues(workerConfigSchema, r.error, input, "worker_config"));
  return r.data;
}

export function workerConfigDefaults(): WorkerConfig {
  return parseWorkerConfig({});
}

/** Every worker_config leaf: key, default, allowed values, description (for docs). */
export function workerConfigKeys(): Array<{ key: string; default: unknown } & Partial<FieldMeta>> {
  const rows: Array<{ key: string; default: unknown } & Partial<FieldMeta>> = [];
  const walk = (node: z.ZodType, path: string[], def: unknown): void => {
    const sh = shapeOfSchema(node);
    if (sh) {
      for (const [k, child] of Object.entries(sh)) walk(child, [...path, k], (def as Record<string, unknown>)[k]);
      return;
    }
    const m = metaOfSchema(node);
    rows.push({ key: path.join("."), default: def, allowed: m.allowed, description: m.description, winnow: m.winnow });
  };
  walk(workerConfigSchema, [], workerConfigDefaults());
  return rows;
}
