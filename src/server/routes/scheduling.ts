// Configs and scheduled runs: create a config, schedule a run of a dataset (with a stored config or
// the three sections inline), list, get, cancel. What the worker would refuse at INITIALIZING
// (bad paths, unknown tags, missing metadata) is refused here, before anything is stored.
import * as fs from "node:fs";
import * as path from "node:path";
import type { FastifyRequest } from "fastify";
import type { ConfigData, DatasetData } from "../../db/records.js";
import type { ConfigIssue } from "../../config/lightly-config.js";
import { isS3Url } from "../../s3/client.js";
import { runGpuLabels } from "../../config/gpu-labels.js";
import { checkScheduledConfig, checkScheduledSources, configTagNames, type ScheduleContext } from "../configs.js";
import { HttpError, notFound } from "../http-error.js";
import type { RouteContext } from "../route-context.js";
import { createConfigBody, idParams, scheduleBody, scheduledRunsQuery } from "../schemas.js";
import type { ApiPlugin } from "./plugin.js";

type ConfigSections = Pick<ConfigData, "worker_config" | "selection_config" | "lightly_config">;
type ConfigBody = { [K in keyof ConfigSections]?: Record<string, unknown> | null };

/** The config checks of scheduling, against the datasource of the dataset when it is known. */
class ScheduleChecks {
  private readonly allowRoots: string[];

  constructor(private readonly ctx: RouteContext) {
    this.allowRoots = (ctx.o.allowRoots ?? []).map((r) => path.resolve(r));
  }

  /** Where a config scheduled on `ds` runs, as far as the server knows (for the path checks). */
  private context(ds?: DatasetData): ScheduleContext {
    if (!ds) return { allowRoots: this.allowRoots };
    return { datasourceDir: isS3Url(ds.datasource) ? null : path.join(this.ctx.realRoot, ds.datasource), allowRoots: this.allowRoots };
  }

  /** The config's own refusals (schemas, paths), naming the first field. */
  config(c: ConfigBody, ds?: DatasetData): void {
    refuseIssues(checkScheduledConfig(c, this.context(ds)));
  }

  /** Unknown tags of the dataset and (datasource on this server's disk) missing metadata / prediction files. */
  async sources(req: FastifyRequest, c: ConfigBody, ds: DatasetData): Promise<void> {
    const known = await this.ctx.tags.resolve(this.ctx.owner(req), ds.id, configTagNames(c));
    const dir = this.context(ds).datasourceDir ?? null;
    refuseIssues(checkScheduledSources(c, dir && fs.existsSync(dir) ? dir : null, Object.fromEntries([...known.keys()].map((k) => [k, []]))));
  }

  /** Stores the config after the checks; a checkpoint_run_id must name one of the caller's runs. */
  async create(req: FastifyRequest, b: ConfigBody, ds?: DatasetData): Promise<ConfigData> {
    this.config(b, ds);
    const { store } = this.ctx;
    const wc = b.worker_config ?? {};
    if (typeof wc.checkpoint_run_id === "string" && wc.checkpoint_run_id && !(await store.getRun(this.ctx.owner(req), wc.checkpoint_run_id))) {
      throw new HttpError(400, `worker_config.checkpoint_run_id: run ${JSON.stringify(wc.checkpoint_run_id)} not found`, "worker_config.checkpoint_run_id");
    }
    return store.createConfig(this.ctx.owner(req), { worker_config: wc, selection_config: b.selection_config ?? null, lightly_config: b.lightly_config ?? {} });
  }
}

function refuseIssues(issues: ConfigIssue[] | null): void {
  if (issues) throw new HttpError(400, issues.map((i) => `${i.path}: ${i.message}`).join("; "), issues[0]!.path);
}

export const schedulingRoutes: ApiPlugin = async (app, { ctx }) => {
  const { store, owner } = ctx;
  const checks = new ScheduleChecks(ctx);

  app.post("/v1/configs", { schema: { body: createConfigBody } }, async (req, reply) => reply.code(201).send(await checks.create(req, req.body)));
  app.get("/v1/configs/:id", { schema: { params: idParams } }, async (req) => {
    const c = await store.getConfig(owner(req), req.params.id);
    if (!c) throw notFound("config", req.params.id);
    return c;
  });

  const dataset = ctx.loadFirst((req) => ctx.dataset(req, (req.params as { id: string }).id));
  app.post("/v1/datasets/:id/scheduled-runs", { schema: { params: idParams, body: scheduleBody }, preValidation: dataset.hook }, async (req, reply) => {
    const ds = dataset.get(req);
    const b = req.body;
    let configId: string;
    let lightly: unknown = b.lightly_config;
    if (b.config_id) {
      if (b.worker_config || b.selection_config || b.lightly_config) throw new HttpError(400, "give config_id or the config sections, not both", "config_id");
      const stored = await store.getConfig(owner(req), b.config_id);
      if (!stored) throw new HttpError(400, `config_id: config ${JSON.stringify(b.config_id)} not found`, "config_id");
      // The dataset is known only now: judge the config's paths against its datasource.
      checks.config(stored, ds);
      await checks.sources(req, stored, ds);
      configId = b.config_id;
      lightly = stored.lightly_config;
    } else {
      checks.config(b, ds);
      await checks.sources(req, b, ds);
      configId = (await checks.create(req, b, ds)).id;
    }
    // trainer.gpus N > 1: only a worker with N GPUs may claim it (src/config/gpu-labels.ts).
    const s = await store.schedule(owner(req), ds.id, configId, b.priority, [...new Set([...b.runs_on, ...runGpuLabels(lightly)])]);
    ctx.wake.emit("scheduled");
    return reply.code(201).send(s);
  });
  app.get("/v1/datasets/:id/scheduled-runs", { schema: { params: idParams, querystring: scheduledRunsQuery }, preValidation: dataset.hook }, async (req) => {
    return store.listScheduled(owner(req), { datasetId: dataset.get(req).id, state: req.query.state });
  });
  app.get("/v1/scheduled-runs", { schema: { querystring: scheduledRunsQuery } }, async (req) => store.listScheduled(owner(req), { state: req.query.state }));
  app.get("/v1/scheduled-runs/:id", { schema: { params: idParams } }, async (req) => {
    const s = await store.getScheduled(owner(req), req.params.id);
    if (!s) throw notFound("scheduled run", req.params.id);
    return s;
  });
  app.get("/v1/scheduled-runs/:id/run", { schema: { params: idParams } }, async (req) => {
    const s = await store.getScheduled(owner(req), req.params.id);
    if (!s) throw notFound("scheduled run", req.params.id);
    const r = await store.getRunOfScheduled(owner(req), s.id);
    if (!r) throw new HttpError(404, `scheduled run ${s.id} has no run yet (state ${s.state})`);
    return r;
  });
  app.post("/v1/scheduled-runs/:id/cancel", { schema: { params: idParams } }, async (req) => {
    const s = await store.cancelScheduled(owner(req), req.params.id);
    if (!s) throw notFound("scheduled run", req.params.id);
    if (s.state === "DONE") throw new HttpError(409, `scheduled run ${s.id} has already finished`);
    return s;
  });
};
