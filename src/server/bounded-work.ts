// Bounds on heavy request work, so one tenant's requests cannot take every thread or wait forever:
// a concurrency limiter with a bounded queue (full → Busy, answered 503), and a time budget for
// one request's wait (past it → 503; the work itself may go on and be cached for the next try).
import { WinnowError } from "../util/errors.js";

/** The server is at its bound for this kind of work; the client may retry after `retryAfterSec`. */
export class Busy extends WinnowError {
  readonly statusCode = 503;
  constructor(message: string, readonly retryAfterSec = 5) {
    super("busy", message);
  }
}

/** Runs at most `concurrency` tasks at once; at most `maxWaiting` more wait, further ones get Busy. */
export class Limiter {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(readonly concurrency: number, readonly maxWaiting: number, private readonly what: string) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.maxWaiting) throw new Busy(`${this.what}: ${this.running} running and ${this.waiting.length} waiting, the most this server takes; retry shortly`);
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next(); // the slot passes to the next waiter
      else this.running--;
    }
  }
}

/** `work`, or a Busy error once `ms` have passed (the work is not cancelled). */
export function withBudget<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Busy(`${what} took longer than this request's budget of ${ms / 1000} s; retry shortly`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}
