// How the worker retries calls to the server. While it holds no run (register, claim) it waits for
// the server as long as it takes; a call made for a run (update, upload, download) has a bounded
// budget of attempts and time, so a server that keeps failing ends the run instead of freezing the
// worker. A 507 (the artifact storage is full) is never retried: it will not clear up by itself.
import { ApiError } from "../client/errors.js";
import { WinnowError } from "../util/errors.js";

export interface RetryBudget {
  /** Tries in all, the first included. */
  attempts: number;
  /** Milliseconds from the first try after which no new try starts. */
  totalMs: number;
}

/** Defaults: uploads 10 tries / 5 minutes; updates and log lines 10 tries / 2 minutes; the end state 30 / 5 minutes. */
export const DEFAULT_UPLOAD_BUDGET: RetryBudget = { attempts: 10, totalMs: 5 * 60_000 };
export const DEFAULT_UPDATE_BUDGET: RetryBudget = { attempts: 10, totalMs: 2 * 60_000 };
export const DEFAULT_END_BUDGET: RetryBudget = { attempts: 30, totalMs: 5 * 60_000 };

/**
 * Worth retrying: the server's 5xx (not 507), or the network (fetch's errors). Not a 4xx, and not a
 * local file error (an epoch checkpoint that top-k rotation removed meanwhile is gone for good:
 * retrying its upload forever once kept a run from ever ending).
 */
export const isTransientError = (e: unknown): boolean => {
  if (e instanceof ApiError) return e.status >= 500 && e.status !== 507;
  return !(e && typeof e === "object" && "syscall" in e);
};

/** The storage behind the server is full: the run fails with this reason. */
export const isStorageFull = (e: unknown): boolean => e instanceof ApiError && e.status === 507;

/** A call for a run that kept failing until its budget was spent; `cause` is the last failure. */
export class RetryBudgetExhausted extends WinnowError {
  constructor(readonly what: string, readonly attempts: number, readonly ms: number, override readonly cause: unknown) {
    super(isStorageFull(cause) ? "storage_full" : "io", `${what}: gave up after ${attempts} tries in ${(ms / 1000).toFixed(1)} s (last: ${describeError(cause)})`, { cause });
  }
}

/** An error with fetch's underlying cause (fetch itself says only "fetch failed"). */
export function describeError(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  return `${(e as Error).message}${cause ? ` (${cause.code ?? ""}${cause.code && cause.message ? " " : ""}${cause.message ?? ""})` : ""}`;
}
