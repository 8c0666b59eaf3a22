// The retry loop of the worker's calls to the server (the rules are in retry.ts): tries `fn` again
// while the server is unreachable, until it answers, the worker stops, or a run's budget is spent.
import { RetryBudgetExhausted, describeError, isTransientError, type RetryBudget } from "./retry.js";

export interface RetryOptions {
  /** false: go on retrying after the worker was asked to stop (a run's calls must still end it). */
  untilStopped?: boolean;
  /** The budget of a call made for a run; without one, retry without end. */
  budget?: RetryBudget;
}

export type Retrying = <T>(what: string, fn: () => Promise<T>, opts?: RetryOptions) => Promise<T>;

/** A sleep that a stop cuts short. */
export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });

/** The worker's retrying(): logs the first failure, every 10th, and the recovery. */
export function retryingWith(log: (line: string) => void, stop: AbortSignal | undefined): Retrying {
  return async function retrying<T>(what: string, fn: () => Promise<T>, opts: RetryOptions = {}): Promise<T> {
    let delay = 250;
    let warned = false;
    const t0 = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        const v = await fn();
        if (warned) log(`server reachable again (${what})`);
        return v;
      } catch (e) {
        if (!isTransientError(e)) throw e;
        if (opts.untilStopped !== false && stop?.aborted) throw e;
        const b = opts.budget;
        if (b && (attempt >= b.attempts || Date.now() - t0 + delay > b.totalMs)) throw new RetryBudgetExhausted(what, attempt, Date.now() - t0, e);
        // The first failure and every 10th: with the underlying cause (fetch says only "fetch failed").
        if (!warned || attempt % 10 === 0) log(`server unreachable (${what}, attempt ${attempt}: ${describeError(e)}); retrying`);
        warned = true;
        await sleep(delay);
        delay = Math.min(5000, delay * 2);
      }
    }
  };
}
