// What the server answers to a worker's claim: the run, its config and dataset, and signed URLs of
// the files the job needs (checkpoint, datapool, resume checkpoint, tagged selections).
import type { ConfigData, DatasetData, RunData } from "../db/records.js";

export interface Claim {
  run: RunData;
  config: ConfigData;
  dataset: DatasetData;
  checkpoint: { source: string; url: string } | { error: string } | null;
  datapool: { run_id: string; url: string } | null;
  /** Automatic resume of a CRASHED run: its checkpoint (signed URL) to continue training from. */
  resume?: { run_id: string; attempt: number; url: string } | null;
  /** SIMILARITY's tag names → the tagged run's selected filenames (signed URL). */
  tags?: Record<string, { run_id: string; url: string }>;
}
