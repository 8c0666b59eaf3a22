// `winnow run --resume <run id>` (LightlyTrain's resume_interrupted): which earlier local run may be
// continued, and from what. The resumed run is a new run (new id and folder, recording
// `resumedFrom`) that takes the earlier run's input, resolved config and checkpoint folder, so the
// interrupted run's folder and record stay as they were.
import * as fs from "node:fs";
import * as path from "node:path";
import { RunConfigError, type RunOverrides } from "../config/run-config.js";
import { readRunRecord, type RunRecord } from "./store.js";

export interface LocalResume {
  record: RunRecord;
  /** The run's resolved sections (config/*.json of its folder). */
  config: { worker_config: Record<string, unknown>; selection_config: Record<string, unknown>; lightly_config: Record<string, unknown> };
  /** Its last.ckpt (weights, optimizer state, epoch and step). */
  checkpoint: string;
}

/** Flags that may change on a resume: more epochs, another device. The rest would make the continued curve meaningless. */
const RESUMABLE_OVERRIDES: ReadonlyArray<keyof RunOverrides> = ["epochs", "device"];
const FLAG: Record<keyof RunOverrides, string> = {
  nSamples: "--n-samples", train: "--train", epochs: "--epochs", batchSize: "--batch-size", checkpoint: "--checkpoint", checkpointRunId: "--checkpoint-run-id", device: "--device",
};

const refuse = (message: string): RunConfigError => new RunConfigError([{ path: "--resume", message }]);

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Checks that run `id` can be resumed with these options; throws RunConfigError (path "--resume") saying why not. */
export function localResumeSource(id: string, o: { config?: unknown; configFile?: string; overrides?: RunOverrides; input?: string }): LocalResume {
  if (o.config !== undefined || o.configFile) throw refuse(`a resumed run keeps the config of run ${id}: give no --config`);
  const changed = Object.entries(o.overrides ?? {}).filter(([k, v]) => v !== undefined && !RESUMABLE_OVERRIDES.includes(k as keyof RunOverrides));
  if (changed.length) {
    throw refuse(`${changed.map(([k]) => FLAG[k as keyof RunOverrides] ?? k).join(", ")} would change what run ${id} trains, so its loss curve could not continue; only --epochs and --device may be given with --resume`);
  }
  let rec: RunRecord;
  try {
    rec = readRunRecord(id);
  } catch (e) {
    throw refuse((e as Error).message);
  }
  if (rec.state === "COMPLETED") throw refuse(`run ${id} is COMPLETED: there is nothing to resume (--checkpoint-run-id ${id} starts a new run from its weights)`);
  if (rec.state === "FAILED" && !rec.resumable) throw refuse(`run ${id} FAILED (${rec.error ?? "no reason recorded"}): a failed run is not resumed, the failure would repeat; fix the cause and start a new run (--checkpoint-run-id ${id} reuses its checkpoint)`);
  if (rec.state !== "ABORTED" && alive(rec.pid)) throw refuse(`run ${id} is still ${rec.state} (process ${rec.pid}); stop it first (Ctrl-C keeps a checkpoint)`);
  if (o.input !== undefined) {
    let real = path.resolve(o.input);
    try {
      real = fs.realpathSync(o.input);
    } catch {
      /* compared as given */
    }
    if (real !== rec.input) throw refuse(`run ${id} read ${rec.input}, not ${real}: a resumed run reads the same folder (leave the input out)`);
  }
  const noCheckpoint = (file: string): RunConfigError =>
    refuse(`run ${id} (${rec.state}) has no checkpoint to resume from (${file} does not exist): it stopped before its trainer wrote one; start it again instead`);
  const read = (section: string): Record<string, unknown> => {
    const f = path.join(rec.output, "config", `${section}.json`);
    try {
      return JSON.parse(fs.readFileSync(f, "utf8")) as Record<string, unknown>;
    } catch {
      // Stopped before its config was written (so before training): say what matters.
      const plain = path.join(rec.output, "checkpoints", "last.ckpt");
      if (!fs.existsSync(plain)) throw noCheckpoint(plain);
      throw refuse(`the config of run ${id} is gone or unreadable (${f})`);
    }
  };
  const config = { worker_config: read("worker_config"), selection_config: read("selection_config"), lightly_config: read("lightly_config") };
  if (config.worker_config.enable_training !== true) throw refuse(`run ${id} did not train (worker_config.enable_training is false): there is no training to continue`);
  const cb = (config.lightly_config.checkpoint_callback ?? {}) as { dirpath?: string | null };
  const checkpoint = path.join(cb.dirpath ?? path.join(rec.output, "checkpoints"), "last.ckpt");
  if (!fs.existsSync(checkpoint)) throw noCheckpoint(checkpoint);
  return { record: rec, config, checkpoint };
}
