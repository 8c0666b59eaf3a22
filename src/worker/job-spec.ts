// What the worker gives a job (spec.json) and what the job answers over IPC; the policy a job's
// config is held to. Types and one pure function: importable without starting a job (job.ts is the
// child's entry point).
import * as path from "node:path";
import type { LiveProgress } from "../run/live-progress.js";
import type { RunPolicy } from "../run/policy.js";

/**
 * What a job's config may read: the datasource, this job's folder, --allow-root folders. Not the
 * shared decode cache: it holds other datasets' decoded images.
 */
export function jobPolicy(spec: Pick<JobSpec, "input" | "output" | "policy">): RunPolicy {
  return {
    roots: [spec.input, path.dirname(spec.output), ...(spec.policy?.allowRoots ?? [])],
    allowOrigins: spec.policy?.serverOrigin ? [spec.policy.serverOrigin] : [],
    allowHosts: spec.policy?.allowUrlHosts ?? [],
  };
}

export interface JobSpec {
  /** Real path of the dataset's folder on this machine. */
  input: string;
  /** The scheduled config as the client sent it (Lightly's keys). */
  config: { worker_config?: Record<string, unknown> | null; selection_config?: Record<string, unknown> | null; lightly_config?: Record<string, unknown> | null };
  /** Empty folder for the run's outputs. */
  output: string;
  /** $WINNOW_HOME of this job (its runs index holds only what the server said counts). */
  home: string;
  /** The worker's decode cache, shared by its jobs. */
  cacheDir: string;
  /** A URL (signed, from the server) or path of the checkpoint to start from; replaces checkpoint_run_id. */
  checkpoint?: string | null;
  /** The dataset's datapool before this run (file of filenames) and the run it came from. */
  datapool?: { runId: string; file: string } | null;
  /** "cuda" or "cpu" forces the device. */
  device?: "cpu" | "cuda";
  /**
   * The policy for the config's paths and URLs (src/run/policy.ts): folders besides the datasource
   * and the job folder (--allow-root), hosts/CIDRs allowed though internal (--allow-url-host),
   * and the server's origin (its signed URLs). Absent in old spec files: the defaults apply.
   */
  policy?: { allowRoots?: string[]; allowUrlHosts?: string[]; serverOrigin?: string | null };
  /** Continue the training of a CRASHED run from its checkpoint (signed URL; the service's automatic resume). */
  resume?: { runId: string; checkpoint: string } | null;
  /** Tag name → file of its filenames (downloaded by the worker), for SIMILARITY's tag_name. */
  tags?: Record<string, string>;
}

export type JobMessage =
  | { type: "state"; state: string }
  | { type: "log"; lines: string[] }
  | { type: "progress"; progress: LiveProgress }
  /** The run's ranks (several: trainer.gpus / num_processes) and their process ids, rank 0 first. */
  | { type: "ranks"; ranks: number; pids: number[] }
  | { type: "done"; ok: boolean; aborted: boolean; message: string; record: Record<string, unknown> | null };
