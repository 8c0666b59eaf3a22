// Runs: list and get, the holding worker's state updates and log lines, and tags (names given to a
// COMPLETED run's selection).
import { TAG_NAME } from "../../db/tags.js";
import { truncateText } from "../../util/truncate-text.js";
import { HttpError, notFound } from "../http-error.js";
import { createTagBody, idParams, logBody, logQuery, runsQuery, runUpdateBody } from "../schemas.js";
import type { ApiPlugin } from "./plugin.js";

const paramId = (req: { params: unknown }): string => (req.params as { id: string }).id;

export const runRoutes: ApiPlugin = async (app, { ctx }) => {
  const { store, tags, owner } = ctx;
  const ownRun = ctx.loadFirst((req) => ctx.run(req, paramId(req)));
  const heldRun = ctx.loadFirst((req) => ctx.workerRun(req, paramId(req)));

  // Oldest first (Lightly's order); `limit`/`offset` page it (unpaged: every run), `order=desc` newest first.
  app.get("/v1/runs", { schema: { querystring: runsQuery } }, async (req) => {
    const q = req.query;
    if (q.dataset_id) await ctx.dataset(req, q.dataset_id);
    return store.listRuns(owner(req), { datasetId: q.dataset_id, limit: q.limit, offset: q.offset, newestFirst: q.order === "desc" });
  });
  app.get("/v1/runs/:id", { schema: { params: idParams } }, async (req) => ctx.run(req, req.params.id));

  app.patch("/v1/runs/:id", { schema: { params: idParams, body: runUpdateBody }, preValidation: heldRun.hook }, async (req) => {
    const { run: r, workerId } = heldRun.get(req);
    const b = req.body;
    const message = b.message === undefined ? undefined : truncateText(b.message);
    const ok = await store.updateRun(owner(req), r.id, workerId, { state: b.state, message, progress: b.progress as never, checkpointSource: b.checkpoint_source });
    if (!ok) {
      const now = (await store.getRun(owner(req), r.id))!;
      throw new HttpError(409, `run ${r.id} has ended (${now.state}: ${now.message}); no further updates`);
    }
    await store.heartbeat(owner(req), workerId);
    const s = await store.getScheduled(owner(req), r.scheduled_id);
    return { ok: true, cancel_requested: s?.cancel_requested ?? false };
  });

  app.post("/v1/runs/:id/log", { schema: { params: idParams, body: logBody }, preValidation: heldRun.hook }, async (req) => {
    const { run: r } = heldRun.get(req);
    if (!(await store.appendLog(owner(req), r.id, req.body.lines.map((l) => truncateText(l))))) {
      throw ctx.endedConflict((await store.getRun(owner(req), r.id))!, "log lines");
    }
    return { ok: true };
  });
  app.get("/v1/runs/:id/log", { schema: { params: idParams, querystring: logQuery }, preValidation: ownRun.hook }, async (req) => {
    return store.readLog(ownRun.get(req).id, req.query.after);
  });

  // Tags: the run's own name (COMPLETED with a selection) and the names users gave its selection.
  app.get("/v1/runs/:id/tags", { schema: { params: idParams } }, async (req) => {
    const t = await tags.ofRun(owner(req), req.params.id);
    if (!t) throw notFound("run", req.params.id);
    return t;
  });
  app.post("/v1/runs/:id/tags", { schema: { params: idParams, body: createTagBody }, preValidation: ownRun.hook }, async (req, reply) => {
    const name = req.body.name;
    if (!TAG_NAME.test(name)) throw new HttpError(400, `name: ${JSON.stringify(name)} is not a tag name; allowed: 3-128 letters, digits, space and . : ; = @ _ -, starting with a letter or digit`, "name");
    const t = await tags.create(owner(req), req.params.id, name);
    if (t === null) throw notFound("run", req.params.id);
    if (typeof t === "string") throw new HttpError(409, t, "run");
    return reply.code(201).send(t);
  });
  app.get("/v1/datasets/:id/tags", { schema: { params: idParams } }, async (req) => tags.ofDataset(owner(req), (await ctx.dataset(req, req.params.id)).id));
};
