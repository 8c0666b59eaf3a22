// The embedding map off the event loop: reading, parsing and projecting a run's EMBEDDINGS
// artifact (a 70 MB CSV took seconds of CPU, during which heartbeats went unanswered and healthy
// runs of other tenants were declared CRASHED) runs in a small pool of worker threads. The worker
// also serializes the map to JSON, so the main thread only forwards bytes. Bounded: `threads`
// computations at once, `maxQueued` more waiting (then 503), each stopped after `budgetMs`
// (the thread is terminated: it runs plain JavaScript, no engine calls), and each thread's heap
// capped at `heapMb` (a too-large artifact kills its thread, not the server).
import * as fs from "node:fs";
import * as os from "node:os";
import { isMainThread, parentPort, workerData, type Worker } from "node:worker_threads";
import { HttpError } from "./http-error.js";
import { startModuleWorker, type WorkerErrorMessage } from "../util/module-worker.js";
import { readEmbeddingsCsv } from "../run/embeddings-csv.js";
import { embeddingMapOf } from "./ui-embedding-map.js";
import { Busy, Limiter } from "./bounded-work.js";

export interface EmbeddingMapPoolOptions {
  /** Threads computing at once (default: 1, or 2 with four or more cores). */
  threads?: number;
  /** Computations waiting for a thread before new ones are refused with 503 (default 4). */
  maxQueued?: number;
  /** A computation running longer is stopped and answered 503 (ms, default 60 000). */
  budgetMs?: number;
  /** Heap of each thread (MB, default 1536). */
  heapMb?: number;
}

/** Files of one map: the CSV, and the selection and datapool lists (one name a line) if any. */
export interface MapFiles {
  csv: string;
  selected: string | null;
  datapool: string | null;
  /** How errors name the artifact, e.g. "run 1a2b embeddings.csv". */
  what: string;
}

type Answer = { id: number; json: Uint8Array } | { id: number; error: string };

/** The worker says the artifact itself cannot be mapped (bad CSV, too large for the thread). */
export class MapFailed extends HttpError {
  constructor(message: string, status: 413 | 422) {
    super(status, message);
  }
}

const WORKER_MARK = "__winnowEmbeddingMap";

export class EmbeddingMapPool {
  private readonly idle: Worker[] = [];
  private readonly all = new Set<Worker>();
  private readonly limiter: Limiter;
  private readonly budgetMs: number;
  private readonly heapMb: number;
  private nextId = 0;

  constructor(o: EmbeddingMapPoolOptions = {}) {
    const threads = o.threads ?? (os.availableParallelism() >= 4 ? 2 : 1);
    this.limiter = new Limiter(threads, o.maxQueued ?? 4, "embedding maps");
    this.budgetMs = o.budgetMs ?? 60_000;
    this.heapMb = o.heapMb ?? 1536;
  }

  /** The map as JSON bytes. */
  compute(files: MapFiles): Promise<Buffer> {
    return this.limiter.run(() => this.runOne(files));
  }

  async close(): Promise<void> {
    const ws = [...this.all];
    this.all.clear();
    this.idle.length = 0;
    await Promise.all(ws.map((w) => w.terminate()));
  }

  private spawn(): Worker {
    const w = startModuleWorker(import.meta.url, { [WORKER_MARK]: true }, [], { maxOldGenerationSizeMb: this.heapMb });
    w.unref(); // an idle thread does not keep the process alive
    w.once("exit", () => {
      // A thread that died while idle must not be handed the next job.
      this.all.delete(w);
      const i = this.idle.indexOf(w);
      if (i >= 0) this.idle.splice(i, 1);
    });
    this.all.add(w);
    return w;
  }

  private runOne(files: MapFiles): Promise<Buffer> {
    const w = this.idle.pop() ?? this.spawn();
    const id = ++this.nextId;
    return new Promise<Buffer>((resolve, reject) => {
      const done = (reuse: boolean): void => {
        clearTimeout(timer);
        w.off("message", onMessage);
        w.off("error", onError);
        w.off("exit", onExit);
        if (reuse && this.all.has(w)) this.idle.push(w);
        else {
          this.all.delete(w);
          void w.terminate();
        }
      };
      const timer = setTimeout(() => {
        done(false);
        reject(new Busy(`${files.what}: the embedding map took longer than ${this.budgetMs / 1000} s and was stopped`, 30));
      }, this.budgetMs);
      const onMessage = (m: Answer | WorkerErrorMessage): void => {
        if ("type" in m) {
          done(false);
          reject(new Error(`embedding-map thread failed to start: ${m.error.message}`));
        } else if (m.id === id) {
          done(true);
          if ("json" in m) resolve(Buffer.from(m.json.buffer, m.json.byteOffset, m.json.byteLength));
          else reject(new MapFailed(m.error, 422));
        }
      };
      const onError = (e: Error & { code?: string }): void => {
        done(false);
        reject(e.code === "ERR_WORKER_OUT_OF_MEMORY"
          ? new MapFailed(`${files.what}: too large to map (the computation ran out of its ${this.heapMb} MB)`, 413)
          : e);
      };
      const onExit = (code: number): void => {
        done(false);
        reject(new Error(`embedding-map thread exited (code ${code})`));
      };
      w.on("message", onMessage);
      w.on("error", onError);
      w.on("exit", onExit);
      w.postMessage({ id, files });
    });
  }
}

// ---- worker side ----------------------------------------------------------------------------------

const nameLines = (file: string | null): string[] => (file ? fs.readFileSync(file, "utf8").split(/\r?\n/).filter((l) => l.length > 0) : []);

function mapJson(files: MapFiles): Uint8Array {
  const csv = readEmbeddingsCsv(files.csv, files.what);
  // Its own ArrayBuffer (not a slice of a pooled one), so it can be transferred.
  return new TextEncoder().encode(JSON.stringify(embeddingMapOf(csv, nameLines(files.selected), nameLines(files.datapool))));
}

/**
 * Lowers this thread's CPU priority (Linux: a thread id is a valid target of setpriority), so on a
 * busy machine the server's event loop, which answers heartbeats, wins the CPU over a map.
 */
function niceThisThread(): void {
  try {
    const tid = Number(/task\/(\d+)$/.exec(fs.readlinkSync("/proc/thread-self"))?.[1]);
    if (tid > 0) os.setPriority(tid, Math.max(os.getPriority(tid), 10));
  } catch {
    /* not Linux, or not permitted: the map still runs, at normal priority */
  }
}

if (!isMainThread && (workerData as Record<string, unknown> | null)?.[WORKER_MARK]) {
  niceThisThread();
  parentPort!.on("message", ({ id, files }: { id: number; files: MapFiles }) => {
    let answer: Answer;
    try {
      answer = { id, json: mapJson(files) };
    } catch (e) {
      answer = { id, error: (e as Error).message };
    }
    parentPort!.postMessage(answer, "json" in answer ? [answer.json.buffer as ArrayBuffer] : []);
  });
}
