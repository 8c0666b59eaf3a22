// The UI's views of runs: the paginated, filtered overview, one run's summary, its state timeline,
// loss curve, resolved config and HTML report (as text).
import { RUN_STATES, type ConfigData, type RunData, type RunState, type RunSummary } from "../db/records.js";
import { resolveRunConfig } from "../config/run-config.js";
import { HttpError } from "./http-error.js";
import { idParams } from "./schemas.js";
import type { Query, UiPlugin } from "./ui-context.js";

/** Most matching log lines the timeline and live-loss routes scan (a run writes one per stage or epoch). */
const SCAN_LINES = 100_000;

/** Whether the run's config trains (worker_config.enable_training). */
const trainsOf = (c: ConfigData | null | undefined): boolean => (c?.worker_config as { enable_training?: unknown } | undefined)?.enable_training === true;

/** A run as the overview lists it, with what the caller looked up about it. */
function summaryOf(r: RunData, x: { datasetName: string | null; training: boolean; workerName: string | null; selectedCount: number | null; now: number }): RunSummary {
  return {
    id: r.id, dataset_id: r.dataset_id, dataset_name: x.datasetName, scheduled_id: r.scheduled_id,
    state: r.state, message: r.message, progress: r.progress, created_at: r.created_at, ended_at: r.ended_at,
    last_modified_at: r.last_modified_at, duration_ms: (r.ended_at ?? x.now) - r.created_at,
    training: x.training, checkpoint: r.artifacts.some((a) => a.type === "CHECKPOINT"),
    worker_id: r.worker_id, worker_name: x.workerName, selected_count: x.selectedCount, checkpoint_source: r.checkpoint_source,
  };
}

/** The runs overview and one run's summary. */
export const uiRunSummaryRoutes: UiPlugin = async (app, { ui }) => {
  // Runs newest first, filtered by dataset and state, one page at a time.
  app.get("/v1/run-summaries", async (req) => {
    const q = req.query as Query;
    const limit = Math.min(200, Math.max(1, Number(q.limit ?? 25) || 25));
    const offset = Math.max(0, Number(q.offset ?? 0) || 0);
    if (q.state && !(RUN_STATES as readonly string[]).includes(q.state)) throw new HttpError(400, `query.state: expected one of ${RUN_STATES.join(", ")}, got ${JSON.stringify(q.state)}`);
    if (q.dataset_id && !(await ui.store.getDataset(ui.owner(req), q.dataset_id))) throw new HttpError(404, `dataset ${JSON.stringify(q.dataset_id)} not found`);
    // Filtered, counted and paged in SQL: a page costs the same at 40 runs or 40,000.
    const filter = { datasetId: q.dataset_id || undefined, state: (q.state || undefined) as RunState | undefined };
    const total = await ui.store.countRuns(ui.owner(req), filter);
    const page = await ui.store.listRuns(ui.owner(req), { ...filter, newestFirst: true, limit, offset });
    const names = new Map((await ui.store.listDatasets(ui.owner(req))).map((d) => [d.id, d.name]));
    const training = new Map<string, boolean>();
    for (const r of page) {
      if (!training.has(r.config_id)) {
        const c = await ui.store.getConfig(ui.owner(req), r.config_id);
        training.set(r.config_id, trainsOf(c));
      }
    }
    const workers = new Map((await ui.store.listWorkers(ui.owner(req))).map((w) => [w.id, w.name]));
    const now = Date.now();
    const selected = await Promise.all(page.map((r) => ui.selectedCount(req, r)));
    const items = page.map((r, i) => summaryOf(r, {
      datasetName: names.get(r.dataset_id) ?? null, training: training.get(r.config_id) ?? false,
      workerName: workers.get(r.worker_id) ?? null, selectedCount: selected[i]!, now,
    }));
    return { total, offset, limit, items };
  });

  // One run's summary (the detail page's header: worker name, selected count).
  app.get("/v1/run-summaries/:id", { schema: { params: idParams } }, async (req) => {
    const r = await ui.run(req);
    const c = await ui.store.getConfig(ui.owner(req), r.config_id);
    const ds = await ui.store.getDataset(ui.owner(req), r.dataset_id);
    const w = (await ui.store.listWorkers(ui.owner(req))).find((x) => x.id === r.worker_id);
    return summaryOf(r, {
      datasetName: ds?.name ?? null, training: trainsOf(c), workerName: w?.name ?? null, selectedCount: await ui.selectedCount(req, r), now: Date.now(),
    });
  });
};

/** One run's pages beyond its summary: report, state timeline, loss curve, config. */
export const uiRunDetailRoutes: UiPlugin = async (app, { ui }) => {
  // The HTML report's text, for the UI to show in a sandboxed iframe (srcdoc: no token in a URL, the
  // page's CSP applies, and sandbox="" runs none of its scripts). Plain text: never rendered here.
  app.get("/v1/runs/:id/report-html", { schema: { params: idParams } }, async (req, reply) => {
    const r = await ui.run(req);
    const rep = await ui.artifactText(req, r, "REPORT_HTML");
    if (!rep) throw new HttpError(404, `run ${r.id} (${r.state}) has no REPORT_HTML artifact`);
    return reply.type("text/plain; charset=utf-8").header("x-content-type-options", "nosniff").send(rep.text);
  });

  // The per-image metadata the embedding map colours by (the worker's map_metadata.json), as stored:
  // JSON columns named by field, rows named like the map's filenames. The owner's only (ui.run).
  app.get("/v1/runs/:id/map-metadata", { schema: { params: idParams } }, async (req, reply) => {
    const r = await ui.run(req);
    const md = await ui.artifactText(req, r, "MAP_METADATA");
    if (!md) throw new HttpError(404, `run ${r.id} (${r.state}) has no MAP_METADATA artifact`);
    return reply.type("application/json; charset=utf-8").send(md.text);
  });

  // States as the run's log announced them ("[k/N] STATE" lines, server time), then its end state.
  app.get("/v1/runs/:id/timeline", { schema: { params: idParams } }, async (req) => {
    const r = await ui.run(req);
    const out: { state: string; at: number }[] = [];
    for (const l of await ui.store.readLog(r.id, -1, { contains: "] ", limit: SCAN_LINES })) {
      const m = /\[\d+\/\d+\] ([A-Z_]+)\s*$/.exec(l.line);
      if (m && out[out.length - 1]?.state !== m[1]) out.push({ state: m[1]!, at: l.at });
    }
    if (r.ended_at !== null && out[out.length - 1]?.state !== r.state) out.push({ state: r.state, at: r.ended_at });
    return { state: r.state, created_at: r.created_at, ended_at: r.ended_at, stages: out };
  });

  // Training loss: report.json's per-step and per-epoch losses once the run has one, else the
  // "epoch k/N done: loss x" lines of the log so far (live).
  app.get("/v1/runs/:id/loss", { schema: { params: idParams } }, async (req) => {
    const r = await ui.run(req);
    const rep = await ui.artifactText(req, r, "REPORT_JSON");
    if (rep) {
      const t = (JSON.parse(rep.text) as { training?: { stepLosses?: number[]; epochLosses?: number[] } | null }).training;
      if (t) return { source: "report", epoch_losses: t.epochLosses ?? [], step_losses: t.stepLosses ?? [] };
      return { source: "report", epoch_losses: [], step_losses: [] };
    }
    const epochs: number[] = [];
    for (const l of await ui.store.readLog(r.id, -1, { contains: "epoch ", limit: SCAN_LINES })) {
      const m = /epoch (\d+)\/\d+(?: done)?: loss (-?[\d.]+(?:e[-+]?\d+)?|nan|inf)/i.exec(l.line);
      if (m) epochs[Number(m[1]) - 1] = Number(m[2]);
    }
    return { source: "log", epoch_losses: epochs.filter((v) => v !== undefined), step_losses: [] };
  });

  // The config as scheduled and as the worker resolves it (every default filled in).
  app.get("/v1/runs/:id/config", { schema: { params: idParams } }, async (req) => {
    const r = await ui.run(req);
    const c = await ui.store.getConfig(ui.owner(req), r.config_id);
    if (!c) throw new HttpError(404, `config ${JSON.stringify(r.config_id)} not found`);
    const scheduled = { worker_config: c.worker_config, selection_config: c.selection_config, lightly_config: c.lightly_config };
    let resolved: unknown = null;
    let error: string | null = null;
    try {
      resolved = resolveRunConfig({ worker_config: c.worker_config ?? {}, selection_config: c.selection_config ?? {}, lightly_config: c.lightly_config ?? {} });
    } catch (e) {
      error = (e as Error).message;
    }
    return { config_id: c.id, scheduled, resolved, error };
  });
};
