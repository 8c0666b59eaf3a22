// A progress bar for count-based stages (decoding, embedding): redrawn in place on a terminal,
// a plain line at most every intervalMs elsewhere (logs, pipes), and always at the end.
import type { ProgressStream } from "../util/progress.js";
import { formatDuration } from "../util/progress.js";

export class CountProgress {
  private readonly t0 = performance.now();
  private last = -Infinity;
  private shown = false;
  constructor(
    private readonly label: string,
    private readonly stream: ProgressStream | null,
    private readonly tty = Boolean(stream?.isTTY),
    private readonly intervalMs = 10_000,
  ) {}

  update(done: number, total: number): void {
    if (!this.stream || (done === 0 && !this.tty)) return;
    const now = performance.now();
    const secs = (now - this.t0) / 1000;
    const rate = secs > 0 ? done / secs : 0;
    const eta = rate > 0 ? (total - done) / rate : null;
    const text = `${this.label} ${done}/${total} ${rate >= 100 ? rate.toFixed(0) : rate.toFixed(1)}/s ETA ${formatDuration(eta)}`;
    if (this.tty) {
      const w = 24;
      const f = total > 0 ? Math.round((w * done) / total) : w;
      this.stream.write(`\r[${"#".repeat(f)}${".".repeat(w - f)}] ${text}\x1b[K`);
      this.shown = true;
      if (done >= total) this.done();
    } else if (done >= total || now - this.last >= this.intervalMs) {
      this.last = now;
      this.stream.write(`${text}\n`);
    }
  }

  done(): void {
    if (this.shown && this.stream) this.stream.write("\n");
    this.shown = false;
  }
}
