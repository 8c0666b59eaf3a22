// The web UI's views of what is going on now: the workers page (each worker, whether its heartbeat
// is recent, and the run it is working on) and the queue (OPEN scheduled runs, each with the number
// of live workers whose labels fit it, so a run no worker can take is shown with a warning).
import type { FastifyPluginAsync, FastifyRequest } from "fastify";
import type { Store } from "../db/store.js";
import type { QueuedRunSummary, WorkerData, WorkerSummary } from "../db/records.js";
import { gpusOfLabels } from "../config/gpu-labels.js";

export interface UiLiveOptions {
  store: Store;
  /** The server's dead-worker timeout (ms). */
  workerTimeoutMs: number;
}

/** A worker takes a scheduled run when it has every one of the run's labels (the claim's rule). */
export const fits = (runsOn: readonly string[], w: Pick<WorkerData, "labels">): boolean => runsOn.every((l) => w.labels.includes(l));

export const uiLiveRoutes: FastifyPluginAsync<UiLiveOptions> = async (app, o) => {
  const { store } = o;
  const owner = (req: FastifyRequest): string => req.principal!.owner;
  const isLive = (w: WorkerData, now: number): boolean => now - w.last_heartbeat <= o.workerTimeoutMs;

  app.get("/v1/worker-summaries", async (req) => {
    const now = Date.now();
    const items: WorkerSummary[] = [];
    for (const w of await store.listWorkers(owner(req))) {
      const [r] = await store.listRuns(owner(req), { workerId: w.id, active: true, newestFirst: true, limit: 1 });
      items.push({ ...w, live: isLive(w, now), gpus: gpusOfLabels(w.labels), current_run: r ? { id: r.id, state: r.state, progress: r.progress } : null });
    }
    return { heartbeat_timeout_ms: o.workerTimeoutMs, items };
  });

  app.get("/v1/queue-summaries", async (req) => {
    const now = Date.now();
    const live = (await store.listWorkers(owner(req))).filter((w) => isLive(w, now));
    const names = new Map((await store.listDatasets(owner(req))).map((d) => [d.id, d.name]));
    const items: QueuedRunSummary[] = (await store.listScheduled(owner(req), { state: "OPEN" })).map((s) => ({
      ...s, dataset_name: names.get(s.dataset_id) ?? null, matching_live_workers: live.filter((w) => fits(s.runs_on, w)).length,
    }));
    return { items };
  });
};
