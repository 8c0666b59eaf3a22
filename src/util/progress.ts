// Training progress for people: a redrawn one-line bar on a terminal, plain log lines elsewhere
// (CI logs, files, pipes), where a carriage-return bar would become thousands of lines.

/** What the trainer reports after every step. */
export interface TrainProgress {
  /** 0-based epoch in progress and the number of epochs. */
  epoch: number;
  epochs: number;
  /** 1-based step just finished within the epoch, and steps per epoch. */
  step: number;
  stepsPerEpoch: number;
  /** Steps done since the start of training (resumed runs included). */
  globalStep: number;
  /** Loss of the step just finished. */
  loss: number;
  /** Learning rate the step just finished used (optimizer.lr unless optimizer.lr_schedule decays it). */
  lr?: number;
  /** Mean loss of the epoch so far. */
  epochLoss: number;
  /** Images per second over the recent steps. */
  imagesPerSecond: number;
  /** Estimated seconds to the end of training (null until a step has been timed). */
  etaSeconds: number | null;
}

/** What the trainer reports at the end of every epoch. */
export interface EpochSummary {
  epoch: number;
  epochs: number;
  /** Mean loss over the epoch's steps. */
  loss: number;
  steps: number;
  imagesPerSecond: number;
  seconds: number;
  /** The checkpoint written for this epoch. */
  checkpoint: string;
}

/** 83 → "1m23s", 3725 → "1h02m05s", null → "?". */
export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return "?";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  const two = (v: number): string => String(v).padStart(2, "0");
  if (h > 0) return `${h}h${two(m)}m${two(r)}s`;
  if (m > 0) return `${m}m${two(r)}s`;
  return `${r}s`;
}

const fmtLoss = (v: number): string => (Number.isFinite(v) ? v.toFixed(4) : String(v));
const fmtRate = (v: number): string => (v >= 100 ? v.toFixed(0) : v.toFixed(1));

/** "epoch 2/10 step 5/40 loss 3.4121 (epoch 3.5012) 812 img/s ETA 1m23s" */
export function formatProgressLine(p: TrainProgress): string {
  return (
    `epoch ${p.epoch + 1}/${p.epochs} step ${p.step}/${p.stepsPerEpoch} loss ${fmtLoss(p.loss)} ` +
    `(epoch ${fmtLoss(p.epochLoss)}) ${fmtRate(p.imagesPerSecond)} img/s ETA ${formatDuration(p.etaSeconds)}`
  );
}

/** "epoch 2/10 done: loss 3.5012, 40 steps, 812 img/s, 12s → /out/last.ckpt" */
export function formatEpochLine(e: EpochSummary): string {
  return (
    `epoch ${e.epoch + 1}/${e.epochs} done: loss ${fmtLoss(e.loss)}, ${e.steps} steps, ` +
    `${fmtRate(e.imagesPerSecond)} img/s, ${formatDuration(e.seconds)} → ${e.checkpoint}`
  );
}

/** Anything with write() (process.stderr, a file stream, a test collector). */
export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressPrinterOptions {
  stream?: ProgressStream;
  /** Default: stream.isTTY. */
  tty?: boolean;
  /** Plain mode: at most one step line per this many ms (epoch lines always print). Default 10 s. */
  intervalMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

/**
 * Prints training progress: on a TTY a bar redrawn in place (`\r`, cleared to the end of the line);
 * otherwise a plain line at most every `intervalMs`, plus one line per epoch.
 */
export class ProgressPrinter {
  private readonly stream: ProgressStream;
  private readonly tty: boolean;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private lastPlain = -Infinity;
  private barShown = false;

  constructor(opts: ProgressPrinterOptions = {}) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = opts.tty ?? Boolean(this.stream.isTTY);
    this.intervalMs = opts.intervalMs ?? 10_000;
    this.now = opts.now ?? (() => performance.now());
  }

  /** After every step. */
  update(p: TrainProgress): void {
    if (this.tty) {
      const width = Math.max(10, Math.min(30, (this.stream.columns ?? 100) - 90));
      const total = p.epochs * p.stepsPerEpoch;
      const done = p.epoch * p.stepsPerEpoch + p.step;
      const filled = total > 0 ? Math.round((width * done) / total) : 0;
      const bar = `[${"#".repeat(filled)}${".".repeat(Math.max(0, width - filled))}]`;
      this.stream.write(`\r${bar} ${formatProgressLine(p)}\x1b[K`);
      this.barShown = true;
      return;
    }
    const t = this.now();
    if (t - this.lastPlain >= this.intervalMs) {
      this.lastPlain = t;
      this.stream.write(`${formatProgressLine(p)}\n`);
    }
  }

  /** At the end of every epoch. */
  epoch(e: EpochSummary): void {
    this.line(formatEpochLine(e));
  }

  /** Any other message (keeps the bar intact on a TTY by printing above it). */
  line(msg: string): void {
    if (this.tty && this.barShown) {
      this.stream.write(`\r\x1b[K${msg}\n`); // the bar is erased; the next update draws it again
      this.barShown = false;
    } else {
      this.stream.write(`${msg}\n`);
    }
  }

  /** Ends the bar's line. */
  done(): void {
    if (this.tty && this.barShown) this.stream.write("\n");
    this.barShown = false;
  }
}
