// What a job tells the server about its run: state updates and log lines (in order, one at a time,
// each within its retry budget), artifact uploads, and the end state. It holds the run's standing
// with the server: ended (by us or by the server: a 409), canceled by the client, or doomed to end
// FAILED (an artifact that cannot be stored).
import type { ChildProcess } from "node:child_process";
import * as path from "node:path";
import { ApiConflictError, ApiError } from "../client/errors.js";
import type { ArtifactData, ArtifactType, RunState } from "../db/records.js";
import { truncateText } from "../util/truncate-text.js";
import type { WorkerContext } from "./context.js";
import { logBatches } from "./log-batches.js";
import { relativeMessage } from "./message-paths.js";
import { RetryBudgetExhausted, describeError, isStorageFull, isTransientError } from "./retry.js";

export type RunUpdate = { state?: RunState; message?: string; progress?: Record<string, unknown> | null; checkpoint_source?: string | null };

export class RunReporter {
  /** No more calls for this run: its end state is set, or the server ended it. */
  ended = false;
  /** The client asked to cancel (seen in an update's answer). */
  cancelSeen = false;
  /** Why the run must end FAILED whatever the job does. */
  fatal: string | null = null;
  /** The job process, once started: asked to stop when the run must end early. */
  child: ChildProcess | null = null;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly ctx: WorkerContext,
    readonly runId: string,
  ) {}

  /** Asks the job to stop after its step. Once it has exited, send() would throw (channel closed). */
  abortChild(): void {
    if (this.child?.connected) this.child.send({ type: "abort" });
  }

  /** The server ended the run (dead-worker policy or cancel): the job stops, nothing more is sent. */
  onConflict(e: ApiConflictError): void {
    this.ended = true;
    this.ctx.log(`run ${this.runId} was ended by the server: ${e.message}`);
    this.abortChild();
  }

  update(body: RunUpdate): Promise<unknown> {
    return this.enqueue(`update ${body.state ?? ""}`, () => this.patch(body));
  }

  logLines(lines: string[]): Promise<unknown> {
    for (const batch of logBatches(lines)) this.enqueue("log", () => this.ctx.http.json("POST", `/v1/runs/${this.runId}/log`, { lines: batch }));
    return this.chain;
  }

  async upload(file: string, name: string, type: ArtifactType): Promise<void> {
    const { http, retrying, budgets } = this.ctx;
    const url = `/v1/runs/${this.runId}/artifacts/${encodeURIComponent(name)}?type=${type}`;
    await retrying(`upload ${name}`, () => http.upload<ArtifactData>(url, file), { untilStopped: false, budget: budgets.upload });
  }

  /** An upload that failed for good: 507 or a spent budget make the run FAILED with this reason. */
  uploadFailed(name: string, e: unknown): void {
    if (e instanceof ApiConflictError) return this.onConflict(e);
    const why = isStorageFull(e) ? (e as Error).message : e instanceof RetryBudgetExhausted ? e.message : `upload of ${name} failed: ${describeError(e)}`;
    this.ctx.log(`run ${this.runId}: artifact ${name} cannot be stored: ${why}`);
    if (!this.fatal && (isStorageFull(e) || e instanceof RetryBudgetExhausted)) {
      this.fatal = `artifact ${name} could not be uploaded: ${why}`;
      this.abortChild();
    }
  }

  /**
   * Sets the end state. A message the server refuses (a 4xx other than 409) is sent again shorter,
   * then without it: a run must not stay in UPLOADING_ARTIFACTS because of its message. The message
   * sent names this worker's paths relative to the run folder or datasource root (message-paths.ts).
   */
  async finish(state: RunState, message: string): Promise<void> {
    await this.chain;
    if (this.ended) return;
    const { log, retrying, budgets, workDir, realRoot } = this.ctx;
    const sent = relativeMessage(message, { runDir: path.join(workDir, "runs", this.runId), realRoot, workDir });
    let last: unknown = null;
    for (const m of new Set([truncateText(sent), truncateText(sent, 500), ""])) {
      try {
        await retrying(`end ${state}`, () => this.patch({ state, message: m }), { untilStopped: false, budget: budgets.end });
        last = null;
        break;
      } catch (e) {
        last = e;
        if (e instanceof ApiConflictError) return this.onConflict(e);
        if (!(e instanceof ApiError && e.status >= 400 && e.status < 500)) break;
        log(`run ${this.runId}: the server refused the end state with this message (${describeError(e)}); sending a shorter one`);
      }
    }
    this.ended = true;
    if (last) return this.endNotSet(state, message, last, sent);
    log(`run ${this.runId}: ${state}${message ? ` (${truncateText(message, 2000)})` : ""}`);
  }

  private endNotSet(state: RunState, message: string, last: unknown, sent: string): void {
    this.ctx.log(`!!! run ${this.runId}: the end state ${state} could not be set: ${describeError(last)}; the server still shows the run as going. Message: ${truncateText(message, 2000)}`);
    // The server was unreachable: try again before each later claim.
    if (isTransientError(last) || last instanceof RetryBudgetExhausted) this.ctx.unsentEnds.set(this.runId, state, truncateText(sent, 500));
  }

  // Updates and log lines go out in order, one at a time.
  private enqueue(what: string, fn: () => Promise<unknown>): Promise<unknown> {
    const { retrying, budgets, log } = this.ctx;
    this.chain = this.chain.then(() => (this.ended ? null : retrying(what, fn, { untilStopped: false, budget: budgets.update }))).catch((e) => {
      if (e instanceof ApiConflictError) this.onConflict(e);
      else log(`run ${this.runId}: ${what} failed: ${(e as Error).message}`);
    });
    return this.chain;
  }

  /** Each update's answer carries cancel_requested: a cancel from the UI stops the job. */
  private async patch(body: RunUpdate): Promise<void> {
    const r = await this.ctx.http.json<{ cancel_requested: boolean }>("PATCH", `/v1/runs/${this.runId}`, body);
    if (r.cancel_requested && !this.cancelSeen) {
      this.cancelSeen = true;
      this.ctx.log(`run ${this.runId}: canceled by the client; aborting`);
      this.abortChild();
    }
  }
}
