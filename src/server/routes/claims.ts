// Workers: register, list, delete, heartbeat, and the long-polling claim that hands a worker the
// highest-priority fitting OPEN scheduled run with everything it needs (claim-response.ts).
import type { FastifyRequest } from "fastify";
import type { RunData } from "../../db/records.js";
import { configTagNames } from "../configs.js";
import type { ClaimResponse } from "../../client/claim-response.js";
import { notFound } from "../http-error.js";
import type { RouteContext } from "../route-context.js";
import { claimBody, idParams, registerWorkerBody } from "../schemas.js";
import type { ApiPlugin } from "./plugin.js";

export const workerRoutes: ApiPlugin = async (app, { ctx }) => {
  const { store, owner } = ctx;

  app.post("/v1/workers", { schema: { body: registerWorkerBody } }, async (req, reply) => {
    return reply.code(201).send(await store.registerWorker(owner(req), req.body.name, [...new Set(req.body.labels)]));
  });
  app.get("/v1/workers", async (req) => store.listWorkers(owner(req)));
  app.delete("/v1/workers/:id", { schema: { params: idParams } }, async (req, reply) => {
    if (!(await store.deleteWorker(owner(req), req.params.id))) throw notFound("worker", req.params.id);
    return reply.code(204).send();
  });
  app.post("/v1/workers/:id/heartbeat", { schema: { params: idParams } }, async (req) => {
    if (!(await store.heartbeat(owner(req), req.params.id))) throw notFound("worker", req.params.id);
    return { ok: true };
  });

  let wakeGeneration = 0;
  ctx.wake.prependListener("scheduled", () => wakeGeneration++);
  /** Woken by a schedule (this server's, or another replica's through NOTIFY); the timer catches schedules whose wake-up was lost (no LISTEN connection at the time). */
  const wakeOrTimeout = (ms: number): Promise<void> =>
    new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        ctx.wake.off("scheduled", done);
        resolve();
      }
      ctx.wake.on("scheduled", done);
    });

  // Long-poll: answers a claimed run as soon as one fits, or 204 after wait_ms.
  const claimer = ctx.loadFirst((req) => ctx.worker(req, (req.params as { id: string }).id));
  app.post("/v1/workers/:id/claim", { schema: { params: idParams, body: claimBody }, preValidation: claimer.hook }, async (req, reply) => {
    const w = claimer.get(req);
    const deadline = Date.now() + req.body.wait_ms;
    let gone = false;
    req.raw.on("close", () => (gone = true));
    for (;;) {
      // A wake-up during the claim query must not be missed: compare generations afterwards.
      const seen = wakeGeneration;
      await store.heartbeat(owner(req), w.id);
      const got = await store.claim(owner(req), w);
      if (got) return claimAnswer(ctx, req, got.run, got.scheduled.config_id);
      const left = deadline - Date.now();
      if (left <= 0 || gone) return reply.code(204).send();
      if (wakeGeneration !== seen) continue;
      await wakeOrTimeout(Math.min(left, ctx.o.claimPollMs?.() ?? 1000));
    }
  });

};

/** What a worker needs to run a claimed run: configs, datasource, and resolved checkpoint inputs. */
async function claimAnswer(ctx: RouteContext, req: FastifyRequest, r: RunData, configId: string): Promise<ClaimResponse> {
  const { store } = ctx;
  const owner = ctx.owner(req);
  const cfg = (await store.getConfig(owner, configId))!;
  const ds = (await store.getDataset(owner, r.dataset_id))!;
  const wc = (cfg.worker_config ?? {}) as Record<string, unknown>;
  const url = (artifactId: string): string => ctx.signedUrl(req, artifactId, ctx.o.workerUrlTtl ?? 24 * 3600).url;
  let checkpoint: ClaimResponse["checkpoint"] = null;
  let datapool: ClaimResponse["datapool"] = null;
  // Automatic resume of a CRASHED run: its CHECKPOINT (with resume state) replaces the config's
  // starting checkpoint; a worker that knows `resume` continues training from it.
  const resumes = await store.resumeOf(owner, r.scheduled_id);
  const from = resumes ? await store.getRun(owner, resumes.runId) : null;
  const fromCkpt = from?.artifacts.find((a) => a.type === "CHECKPOINT");
  let resume: ClaimResponse["resume"] = null;
  if (resumes && from && fromCkpt) {
    resume = { run_id: from.id, attempt: resumes.attempt, url: url(fromCkpt.id) };
    checkpoint = { source: `resume:${from.id}`, url: resume.url };
  } else if (typeof wc.checkpoint_run_id === "string" && wc.checkpoint_run_id) {
    const src = await store.getRun(owner, wc.checkpoint_run_id);
    const art = src?.artifacts.find((a) => a.type === "CHECKPOINT");
    checkpoint = !src
      ? { error: `worker_config.checkpoint_run_id: run ${JSON.stringify(wc.checkpoint_run_id)} not found` }
      : !art
        ? { error: `worker_config.checkpoint_run_id: run ${src.id} (${src.state}) has no CHECKPOINT artifact` }
        : { source: `run:${src.id}`, url: url(art.id) };
  } else if (wc.use_datapool === true && !(typeof wc.checkpoint === "string" && wc.checkpoint)) {
    const c = await store.newestDatasetCheckpoint(owner, r.dataset_id, r.id);
    if (c) checkpoint = { source: `datapool:${c.run.id}`, url: url(c.artifact.id) };
  }
  if (wc.use_datapool === true) {
    const s = await store.newestDatasetSelection(owner, r.dataset_id, r.id);
    if (s) datapool = { run_id: s.run.id, url: url(s.artifact.id) };
  }
  // SIMILARITY's tag_name: the tagged run's selected filenames, fetched by the worker with the job.
  const tagged = await ctx.tags.resolve(owner, r.dataset_id, configTagNames(cfg));
  const tags = Object.fromEntries([...tagged].map(([name, t]) => [name, { run_id: t.run_id, url: url(t.artifact_id) }]));
  return { run: r, config: cfg, dataset: ds, checkpoint, datapool, resume, tags };
}
