// Structured progress of a running run, for the service (the worker sends it to the server, the web
// UI draws it): which stage, how far, the loss, images/s and ETA. The terminal text of progress.ts
// is for people reading a log; this is for programs, with snake_case keys as the API stores them.
// No imports: the web UI's type-check reads this file too (util/progress.ts needs Node's types).

/** The fields of util/progress.ts's TrainProgress this reads. */
interface TrainStep {
  epoch: number;
  epochs: number;
  step: number;
  stepsPerEpoch: number;
  loss: number;
  epochLoss: number;
  imagesPerSecond: number;
  etaSeconds: number | null;
}

export interface LiveProgress {
  /** The run state this progress belongs to (TRAINING, EMBEDDING, …). */
  stage: string;
  /** What is counted within the stage ("decoding", "embedding", "training"). */
  what: string;
  /** 0..1 of the stage. */
  fraction: number;
  /** Training: 1-based epoch in progress, of `epochs`; 1-based step in the epoch, of `steps`. */
  epoch?: number;
  epochs?: number;
  step?: number;
  steps?: number;
  /** Training: the last step's loss and the epoch's mean so far. */
  loss?: number;
  epoch_loss?: number;
  /** Counted stages: items done of total. */
  done?: number;
  total?: number;
  images_per_second: number;
  /** Seconds to the end of the stage; null until a rate is known. */
  eta_seconds: number | null;
}

const finite = (v: number): number | undefined => (Number.isFinite(v) ? v : undefined);

export function trainingProgress(stage: string, p: TrainStep): LiveProgress {
  const total = p.epochs * p.stepsPerEpoch;
  const done = p.epoch * p.stepsPerEpoch + p.step;
  return {
    stage, what: "training", fraction: total > 0 ? Math.min(1, done / total) : 0,
    epoch: p.epoch + 1, epochs: p.epochs, step: p.step, steps: p.stepsPerEpoch,
    loss: finite(p.loss), epoch_loss: finite(p.epochLoss),
    images_per_second: p.imagesPerSecond, eta_seconds: p.etaSeconds,
  };
}

/** Progress of a counted stage (decoding, embedding): rate and ETA from the time since the first call. */
export function countProgress(stage: string, what: string, t0: number, done: number, total: number, now = performance.now()): LiveProgress {
  const secs = (now - t0) / 1000;
  const rate = secs > 0 ? done / secs : 0;
  return {
    stage, what, fraction: total > 0 ? Math.min(1, done / total) : 1, done, total,
    images_per_second: rate, eta_seconds: rate > 0 ? (total - done) / rate : null,
  };
}
