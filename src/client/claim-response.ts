// What a worker gets when it claims a run (POST /v1/workers/:id/claim): typed once here, in the HTTP
// client layer below both ends, built by src/server/routes/claims.ts and read by src/worker/worker.ts.
import type { ConfigData, DatasetData, RunData } from "../db/records.js";

export interface ClaimResponse {
  run: RunData;
  config: ConfigData;
  dataset: DatasetData;
  /** The starting checkpoint as a signed URL (its source for the run record), or why there is none. */
  checkpoint: { source: string; url: string } | { error: string } | null;
  /** use_datapool: the newest selection of the dataset's earlier runs (signed URL). */
  datapool: { run_id: string; url: string } | null;
  /** Automatic resume of a CRASHED run: its checkpoint (signed URL) to continue training from. */
  resume?: { run_id: string; attempt: number; url: string } | null;
  /** SIMILARITY's tag names → the tagged run's selected filenames (signed URL). */
  tags?: Record<string, { run_id: string; url: string }>;
}
