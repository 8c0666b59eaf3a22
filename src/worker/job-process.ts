// The job's child process (job.ts) as the worker sees it: started with the spec file, its output
// lines and log messages forwarded to the run's log, its state changes and live progress to the
// server, and asked to stop when the worker stops. Resolves with the job's result, or null when the
// process died without one (its last output lines are kept to say why).
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { RUN_STATES, type RunState } from "../db/records.js";
import type { JobMessage } from "./job-spec.js";
import type { RunReporter } from "./run-reporter.js";

export type JobResult = Extract<JobMessage, { type: "done" }>;

/** Progress periods without progress after which an empty update asks whether the run was canceled. */
const QUIET_TICKS = 5;

/** run()'s states that are not Lightly's are reported as the Lightly state they belong to. */
function lightlyState(s: string): RunState | null {
  if (s === "SAVING_RESULTS") return "SAMPLING";
  return (RUN_STATES as readonly string[]).includes(s) ? (s as RunState) : null;
}

export class JobProcess {
  /** The last output lines (20), for the message of a job that died. */
  readonly tail: string[] = [];
  /** The newest live progress not yet sent. */
  private progress: Record<string, unknown> | null = null;

  constructor(private readonly report: RunReporter) {}

  /** Runs the job to its end. `stop` (the worker stopping) asks it to finish its step and end ABORTED. */
  async run(specFile: string, opts: { progressMs: number; stop?: AbortSignal; log: (line: string) => void; script?: string }): Promise<JobResult | null> {
    // From the sources (a checkout) the job runs through tsx; from the compiled package, as JavaScript.
    // (`script`: another child speaking the same IPC, for tests of this class.)
    const fromSource = import.meta.url.endsWith(".ts");
    const jobScript = opts.script ?? fileURLToPath(new URL(fromSource ? "./job.ts" : "./job.js", import.meta.url));
    const execArgv = fromSource ? ["--import", import.meta.resolve("tsx")] : [];
    const child = fork(jobScript, [specFile], { execArgv, stdio: ["ignore", "pipe", "pipe", "ipc"] });
    this.report.child = child;
    child.stdout!.on("data", (b: Buffer) => this.onOutput(b));
    child.stderr!.on("data", (b: Buffer) => this.onOutput(b));
    const onStop = (): void => {
      opts.log(`stopping: run ${this.report.runId} finishes its step, keeps its checkpoint and ends ABORTED`);
      this.report.abortChild();
    };
    opts.stop?.addEventListener("abort", onStop, { once: true });
    // Live progress goes to the server at most once per progressMs (the newest only); each update's
    // answer also carries cancel_requested, so a cancel from the UI is noticed within about a second.
    // A stage that reports no progress (selection, uploads of a resumed checkpoint) still asks with
    // an empty update every QUIET_TICKS periods, so Abort stops it too.
    let quiet = 0;
    const progressTimer = setInterval(() => {
      if (this.progress || ++quiet >= QUIET_TICKS) {
        this.report.update(this.progress ? { progress: this.progress } : {});
        quiet = 0;
      }
      this.progress = null;
    }, opts.progressMs);
    try {
      return await new Promise<JobResult | null>((resolve) => {
        let result: JobResult | null = null;
        child.on("message", (m: JobMessage) => {
          if (m.type === "done") result = m;
          else if (m.type === "ranks") opts.log(`run ${this.report.runId}: ${m.ranks} ranks (pids ${m.pids.join(", ")}), rank 0 is the job process`);
          else this.onMessage(m);
        });
        child.on("exit", (code, sig) => {
          if (!result) this.tail.push(`job process exited with ${sig ? `signal ${sig}` : `code ${code}`}`);
          resolve(result);
        });
      });
    } finally {
      clearInterval(progressTimer);
      opts.stop?.removeEventListener("abort", onStop);
    }
  }

  private onMessage(m: Exclude<JobMessage, JobResult | { type: "ranks" }>): void {
    if (m.type === "state") {
      const s = lightlyState(m.state);
      this.progress = null;
      if (s && !["COMPLETED", "FAILED", "ABORTED"].includes(s)) this.report.update({ state: s, progress: { stage: m.state } });
    } else if (m.type === "progress") this.progress = { ...m.progress };
    else if (m.type === "log") this.report.logLines(m.lines);
  }

  private onOutput(buf: Buffer): void {
    const lines = buf.toString("utf8").split(/\r?\n/).filter((l) => l.trim());
    this.tail.push(...lines);
    this.tail.splice(0, Math.max(0, this.tail.length - 20));
    if (lines.length) this.report.logLines(lines);
  }
}
