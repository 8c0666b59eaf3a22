// Checkpoints as Lightly's trainer keeps them (Lightning's ModelCheckpoint(monitor="loss",
// save_top_k, save_last)): last.ckpt after every epoch and on an early stop (with the partial epoch,
// so a resumed run continues exactly), a copy as lightly_epoch_{e}.ckpt for the top-k epochs by mean
// loss (others deleted), and last.ckpt removed at the end unless save_last.
import * as fs from "node:fs";
import * as path from "node:path";
import { writeFileAtomic } from "../../util/atomic.js";
import { writeTrainingCheckpoint, RESUME_FORMAT, type ResumeState } from "../../models/training-checkpoint.js";
import type { LightlyConfig } from "../../config/lightly-config.js";
import type { TrainLoopState } from "../loop-state.js";
import type { TrainCallback, EpochEnd, StopAt } from "./callback.js";

type Best = ResumeState["best"];

/** The top-k epochs by mean loss, ties to the earlier epoch (k < 0: all); which entries fall out. */
export function rankTopK(best: Best, entry: Best[number], k: number): { kept: Best; removed: Best } {
  if (k === 0) return { kept: best, removed: [] };
  const ranked = [...best, entry].sort((a, b) => a.loss - b.loss || a.epoch - b.epoch);
  const kept = k < 0 ? ranked : ranked.slice(0, k);
  return { kept, removed: ranked.filter((b) => !kept.includes(b)) };
}

export class CheckpointCallback implements TrainCallback {
  readonly lastPath: string;
  /** Top-k epoch checkpoints, best first. */
  private best: Best;
  private lastWritten: string | null;
  private lastKept: string | null = null;

  constructor(
    readonly dir: string,
    private readonly log: ((msg: string) => void) | undefined,
    resume: ResumeState | null,
    /** Ranks of a data-parallel run: recorded in the checkpoint when more than 1. */
    private readonly worldSize = 1,
  ) {
    this.lastPath = path.join(dir, "last.ckpt");
    // Top-k entries of the resumed run whose files are in this run's checkpoint folder.
    this.best = resume ? resume.best.filter((b) => fs.existsSync(path.join(dir, b.file))) : [];
    // A resumed run that has nothing left to do still reports its checkpoint.
    this.lastWritten = resume && fs.existsSync(this.lastPath) ? this.lastPath : null;
  }

  onTrainStart(s: TrainLoopState): void {
    s.lastCheckpoint = this.lastWritten;
  }

  onEpochEnd(s: TrainLoopState, e: EpochEnd): void {
    const file = `lightly_epoch_${e.epoch}.ckpt`;
    const { kept, removed } = rankTopK(this.best, { epoch: e.epoch, loss: e.loss, file }, s.config.checkpoint_callback.save_top_k);
    this.best = kept;
    this.save(s, e.epoch + 1, 0, e.last);
    if (kept.some((b) => b.epoch === e.epoch)) writeFileAtomic(path.join(this.dir, file), fs.readFileSync(this.lastPath));
    for (const b of removed) fs.rmSync(path.join(this.dir, b.file), { force: true });
  }

  onStop(s: TrainLoopState, at: StopAt): void {
    if (at.step !== null) {
      this.save(s, at.epoch, at.step, false);
      this.log?.(`stopped after epoch ${at.epoch + 1}, step ${at.step}: checkpoint ${this.lastPath}`);
    } else {
      this.log?.(`stopped after epoch ${at.epoch + 1}: checkpoint ${this.lastPath}`);
    }
  }

  onPeerFailure(s: TrainLoopState, at: StopAt & { step: number }): void {
    this.save(s, at.epoch, at.step, false);
    this.log?.(`another rank failed: checkpoint ${this.lastPath} after epoch ${at.epoch + 1}, step ${at.step} (resumable)`);
  }

  onTrainEnd(s: TrainLoopState): void {
    this.lastKept = this.lastWritten;
    if (!s.aborted && !s.config.checkpoint_callback.save_last && this.lastWritten) {
      fs.rmSync(this.lastPath, { force: true });
      this.lastKept = null;
    }
  }

  /** The checkpoints left on disk (TrainResult's fields); call after onTrainEnd. */
  result(): { lastCheckpoint: string | null; bestCheckpoint: string | null; checkpoint: string | null; checkpoints: string[] } {
    const bestCheckpoint = this.best.length ? path.join(this.dir, this.best[0]!.file) : null;
    const checkpoints = [...(this.lastKept ? [this.lastKept] : []), ...this.best.map((b) => path.join(this.dir, b.file))];
    return { lastCheckpoint: this.lastKept, bestCheckpoint, checkpoint: bestCheckpoint ?? this.lastKept, checkpoints };
  }

  private save(s: TrainLoopState, epoch: number, step: number, complete: boolean): void {
    writeTrainingCheckpoint(s.model, s.optimizer, this.lastPath, resumeState(s, this.best, epoch, step, complete, this.worldSize));
    this.lastWritten = s.lastCheckpoint = this.lastPath;
  }
}

/** The resume metadata of position (epoch, step), in the key order Winnow has always written. */
function resumeState(s: TrainLoopState, best: Best, epoch: number, step: number, complete: boolean, worldSize: number): ResumeState<LightlyConfig> {
  return {
    format: RESUME_FORMAT, epoch, step, globalStep: s.globalStep, epochsCompleted: s.epochLosses.length, seed: s.config.seed,
    numImages: s.numImages, batchSize: s.batchSize, stepsPerEpoch: s.stepsPerEpoch, epochLosses: [...s.epochLosses],
    partialStepLosses: [...s.partialLosses], best, modelConfig: s.model.config, config: s.config, complete,
    ...(worldSize > 1 ? { worldSize } : {}),
  };
}
