// What a caller gives `run()`: `winnow run` (src/cli/run.ts) and a service worker's job (src/worker/job.ts)
// pass the same options; the worker's hooks (stream, onProgress, onState, signal) are fields here.
import type { RunOverrides } from "../config/run-config.js";
import type { ProgressStream } from "../util/progress.js";
import type { LiveProgress } from "./live-progress.js";
import type { RunPolicy } from "./policy.js";
import type { RankSetup } from "./ranks.js";
import type { RunState } from "./states.js";

export interface RunOptions {
  /** Folder of images (a resumed local run takes its source run's; given, it must be the same folder). */
  input?: string;
  /** A run config object as in the run file ({ worker_config, selection_config, lightly_config }); checked here. */
  config?: unknown;
  /** Or a run file (YAML or JSON). */
  configFile?: string;
  /** Flags on top of the config. */
  overrides?: RunOverrides;
  /** Output folder (must not exist or be empty). Default ./winnow-runs/<run id>. */
  output?: string;
  /** Human-readable progress (default process.stderr; null = silent; the log file is always written). */
  stream?: ProgressStream | null;
  /** Aborts the run (training stops after its current step and keeps a checkpoint). */
  signal?: AbortSignal;
  /** Structured progress (training steps, decoding and embedding counts), for the service's live view. */
  onProgress?: (p: LiveProgress) => void;
  /** Called at every state change (after the record is saved), end states included: the worker reports it. */
  onState?: (state: RunState) => void;
  /** Folder of the decode cache. Default $WINNOW_HOME/cache. */
  cacheDir?: string;
  /**
   * Where Lightly's predictions are: a folder holding `.lightly/predictions/` (Lightly's "Lightly
   * datasource"), or the predictions folder itself (with tasks.json). Default: the input folder.
   */
  lightlyPath?: string;
  /**
   * The config is untrusted (a worker job): its paths and URLs must pass this policy, relative
   * paths resolve against the input folder (src/run/policy.ts). None for the user's own `winnow run`.
   */
  policy?: RunPolicy;
  /**
   * Continue an interrupted training (src/run/resume.ts): the id of a local run (its input, config
   * and last.ckpt are taken; only `overrides.epochs`/`device` may be given), or a checkpoint with
   * resume state (path or URL; the service's automatic resume) with the run it came from.
   */
  resume?: string | { runId: string; checkpoint: string };
  /** Ends the run record at once (ABORTED, checkpoint on disk recorded) before the caller exits: a second Ctrl-C. */
  hardStop?: AbortSignal;
  /**
   * This process is rank 0 of a run over several ranks (src/run/ranks.ts): it runs every stage and
   * writes every output; the other ranks run runOtherRank. Absent: one process.
   */
  ranks?: RankSetup;
  /** Tags by name (filenames) for SIMILARITY's tag_name, besides earlier local runs' ids. */
  tags?: Record<string, string[]>;
}
