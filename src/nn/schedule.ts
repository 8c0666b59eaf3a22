// Learning-rate schedules: lightly's cosine (with linear warm-up) formulas and PyTorch's LambdaLR
// stepping (the factor for step 0 is applied when the scheduler is created).
import type { Optimizer, GroupOptions } from "./optim.js";

/** Cosine decay from startValue to endValue over maxSteps (lightly.utils.scheduler.cosine_schedule). */
export function cosineSchedule(step: number, maxSteps: number, startValue: number, endValue: number, period?: number): number {
  if (step < 0) throw new Error(`Current step number ${step} can't be negative.`);
  if (maxSteps < 0) throw new Error(`Total step number ${maxSteps} can't be negative.`);
  if (period !== undefined && period <= 0) throw new Error(`Period ${period} must be >= 1`);
  if (period !== undefined) {
    return endValue - ((endValue - startValue) * (Math.cos((2 * Math.PI * step) / period) + 1)) / 2;
  }
  if (maxSteps <= 1) return endValue;
  if (step >= maxSteps - 1) return endValue;
  return endValue - ((endValue - startValue) * (Math.cos((Math.PI * step) / (maxSteps - 1)) + 1)) / 2;
}

/**
 * Linear warm-up for `warmupSteps` steps (reaching warmupEndValue, default startValue, at the end
 * of the warm-up: step + 1 is used), then cosine decay (lightly's cosine_warmup_schedule).
 */
export function cosineWarmupSchedule(
  step: number, maxSteps: number, startValue: number, endValue: number,
  warmupSteps: number, warmupStartValue: number, warmupEndValue?: number, period?: number,
): number {
  if (warmupSteps < 0) throw new Error(`Warmup steps ${warmupSteps} can't be negative.`);
  if (warmupSteps > maxSteps) throw new Error(`Warmup steps ${warmupSteps} must be <= max_steps.`);
  const wEnd = warmupEndValue ?? startValue;
  if (step < warmupSteps) return warmupStartValue + ((wEnd - warmupStartValue) * (step + 1)) / warmupSteps;
  const rest = maxSteps - (period === undefined ? warmupSteps : 1);
  return cosineSchedule(step - warmupSteps, rest, startValue, endValue, period);
}

/** torch.optim.lr_scheduler.LambdaLR: lr = initial lr × factor(epoch); epoch 0 applied on creation. */
export class LambdaLR {
  readonly baseLrs: number[];
  lastEpoch: number;
  private lastLr: number[] = [];

  constructor(
    readonly optimizer: Optimizer<GroupOptions>,
    readonly lrLambda: (epoch: number) => number,
    lastEpoch = -1,
  ) {
    this.baseLrs = optimizer.paramGroups.map((g) => g.lr);
    this.lastEpoch = lastEpoch;
    this.step();
  }

  /** Advances one epoch/step and sets each group's lr. */
  step(): void {
    this.lastEpoch += 1;
    const f = this.lrLambda(this.lastEpoch);
    this.lastLr = this.baseLrs.map((b) => b * f);
    this.optimizer.setLr(this.lastLr);
  }
  getLastLr(): number[] {
    return [...this.lastLr];
  }
}

export interface CosineWarmupOptions {
  startValue?: number;
  endValue?: number;
  period?: number;
  warmupStartValue?: number;
  warmupEndValue?: number;
  lastEpoch?: number;
}

/** lightly's CosineWarmupScheduler: a LambdaLR whose factor is cosineWarmupSchedule(epoch). */
export class CosineWarmupScheduler extends LambdaLR {
  constructor(optimizer: Optimizer<GroupOptions>, readonly warmupEpochs: number, readonly maxEpochs: number, opts: CosineWarmupOptions = {}) {
    const o = { startValue: 1.0, endValue: 0.001, warmupStartValue: 0.0, ...opts };
    super(
      optimizer,
      (epoch) => cosineWarmupSchedule(epoch, maxEpochs, o.startValue, o.endValue, warmupEpochs, o.warmupStartValue, o.warmupEndValue, o.period),
      opts.lastEpoch ?? -1,
    );
  }
}
