// run()'s hooks in a job process: what the run prints and its progress go to the worker over IPC.
import type { ProgressStream } from "../util/progress.js";
import type { LiveProgress } from "../run/live-progress.js";
import type { RunState } from "../run/states.js";
import type { RunOptions } from "../run/options.js";
import type { JobMessage } from "./job-spec.js";

export function sendToWorker(m: JobMessage): void {
  process.send?.(m);
}

/**
 * run()'s hooks for the worker: the lines the run prints (progress, notes) and the newest structured
 * progress go out batched when `flush` is called (every step would flood the IPC channel); a state
 * change goes out at once, after the lines of the state before it.
 */
export function workerHooks(): Required<Pick<RunOptions, "stream" | "onProgress" | "onState">> & { flush: () => void } {
  let pending: string[] = [];
  let partial = "";
  let progress: LiveProgress | null = null;
  const stream: ProgressStream = {
    write(s: string) {
      const parts = (partial + s).split(/\r|\n/);
      partial = parts.pop() ?? "";
      for (const p of parts) if (p.trim()) pending.push(p);
      return true;
    },
  };
  const flush = (): void => {
    if (pending.length) {
      sendToWorker({ type: "log", lines: pending });
      pending = [];
    }
    if (progress) {
      sendToWorker({ type: "progress", progress });
      progress = null;
    }
  };
  const onState = (state: RunState): void => {
    flush();
    sendToWorker({ type: "state", state });
  };
  return { stream, onProgress: (p) => void (progress = p), onState, flush };
}
