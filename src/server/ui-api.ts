// API routes the web UI needs beyond Lightly's (all under /v1, behind the same token check, and
// answering 404 for another owner's records like the rest of the API): a paginated, filtered run
// list, a run's state timeline, loss curve, resolved config and 2-D embedding map, image thumbnails
// read from the dataset's datasource (re-encoded by sharp, never a path outside it), a dataset's
// datapool size, and config validation without scheduling.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { FastifyPluginAsync, FastifyRequest } from "fastify";
import sharp from "sharp";
import type { Store } from "../db/store.js";
import { RUN_STATES, type ArtifactData, type ArtifactType, type RunData, type RunState, type RunSummary } from "../db/records.js";
import { resolveInside, checkRealInside, PathRefused, IMAGE_EXTENSIONS, extensionOf } from "../data/folder.js";
import { resolveRunConfig } from "../config/run-config.js";
import { checkScheduledConfig } from "./configs.js";
import { createConfigBody } from "./schemas.js";
import type { ArtifactStorage } from "./storage.js";
import { LruCache } from "./ui-embedding-map.js";
import { EmbeddingMapPool, type EmbeddingMapPoolOptions } from "./embedding-map-pool.js";
import { Limiter, withBudget } from "./bounded-work.js";
import { readRegularFile } from "./regular-file.js";
import { uiLiveRoutes } from "./ui-live.js";
import { HttpError } from "./http-error.js";

export interface UiApiOptions {
  store: Store;
  /** The server's dead-worker timeout: a worker whose heartbeat is older is shown as not live. */
  workerTimeoutMs?: number;
  storage: ArtifactStorage;
  /** Real path of the datasource root (datasets' datasources are relative to it). */
  datasourceRoot: string;
  /** The embedding map's worker threads, and the limits of one request. */
  embeddingMap?: EmbeddingMapPoolOptions & {
    /** Largest EMBEDDINGS (or selection) artifact mapped; larger → 413 (bytes, default 256 MiB). */
    maxBytes?: number;
    /** How long one request waits for its map before 503 (ms, default 30 000). */
    requestBudgetMs?: number;
  };
  thumbnails?: {
    /** Images decoded at once (default 4) and waiting (default 64; more → 503). */
    concurrency?: number;
    maxWaiting?: number;
    /** Largest image file read (bytes, default 64 MiB; larger → 413). */
    maxBytes?: number;
    /** How long one thumbnail may take before 503 (ms, default 10 000). */
    budgetMs?: number;
  };
}

const TEXT_LIMIT = 256 * 1024 * 1024;

async function readText(body: Readable, limit = TEXT_LIMIT): Promise<string> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    n += (c as Buffer).length;
    if (n > limit) throw new HttpError(413, `artifact larger than ${limit} bytes`);
    parts.push(c as Buffer);
  }
  return Buffer.concat(parts).toString("utf8");
}

/** Most matching log lines the timeline and live-loss routes scan (a run writes one per stage or epoch). */
const SCAN_LINES = 100_000;

/** The largest report.json the loss route parses on the event loop (JSON.parse cannot yield). */
const REPORT_LIMIT = 64 * 1024 * 1024;

/**
 * Non-empty lines of a text artifact as `split(/\r?\n/)` sees them, counted chunk by chunk (no
 * whole-file string; the event loop runs between chunks).
 */
export async function countLines(body: Readable, limit = TEXT_LIMIT): Promise<number> {
  let count = 0;
  let n = 0;
  let segLen = 0; // bytes of the current line so far
  let first = -1; // its first byte (a line of just "\r" before "\n" is empty)
  for await (const c of body) {
    const b = c as Buffer;
    n += b.length;
    if (n > limit) throw new HttpError(413, `artifact larger than ${limit} bytes`);
    let start = 0;
    for (let i = b.indexOf(10, start); i !== -1; i = b.indexOf(10, start)) {
      const len = segLen + i - start;
      const head = segLen > 0 ? first : b[start];
      if (len > 1 || (len === 1 && head !== 13)) count++;
      segLen = 0;
      start = i + 1;
    }
    if (start < b.length) {
      if (segLen === 0) first = b[start]!;
      segLen += b.length - start;
    }
  }
  return segLen > 0 ? count + 1 : count;
}


export const uiApiRoutes: FastifyPluginAsync<UiApiOptions> = async (app, o) => {
  const { store, storage } = o;
  const owner = (req: FastifyRequest): string => req.principal!.owner;
  const params = (req: FastifyRequest): Record<string, string> => req.params as Record<string, string>;
  const query = (req: FastifyRequest): Record<string, string | undefined> => req.query as Record<string, string | undefined>;
  const maps = new LruCache<Buffer>();
  const mapPool = new EmbeddingMapPool(o.embeddingMap);
  app.addHook("onClose", () => mapPool.close());
  const mapMaxBytes = o.embeddingMap?.maxBytes ?? TEXT_LIMIT;
  const mapBudgetMs = o.embeddingMap?.requestBudgetMs ?? 30_000;
  const thumbs = new Limiter(o.thumbnails?.concurrency ?? 4, o.thumbnails?.maxWaiting ?? 64, "thumbnails");
  const thumbMaxBytes = o.thumbnails?.maxBytes ?? 64 << 20;
  const thumbBudgetMs = o.thumbnails?.budgetMs ?? 10_000;
  const datapoolSizes = new LruCache<number>(256);
  const lineCounts = new LruCache<number>(1024);

  async function run(req: FastifyRequest): Promise<RunData> {
    const id = params(req).id!;
    const r = await store.getRun(owner(req), id);
    if (!r) throw new HttpError(404, `run ${JSON.stringify(id)} not found`);
    return r;
  }
  /** Lines of the run's SELECTED_FILENAMES, counted once per artifact version. */
  async function selectedCount(req: FastifyRequest, r: RunData): Promise<number | null> {
    const a = r.artifacts.find((x) => x.type === "SELECTED_FILENAMES");
    if (!a) return null;
    return lineCounts.get(`${a.id}:${a.sha256}`, async () => {
      const s = await store.getArtifactByName(owner(req), r.id, a.file_name);
      return s ? countLines(await storage.get(s.storageKey)) : 0;
    });
  }
  async function artifactText(req: FastifyRequest, r: RunData, type: ArtifactType): Promise<{ artifact: ArtifactData; text: string } | null> {
    const a = r.artifacts.find((x) => x.type === type);
    if (!a) return null;
    const s = await store.getArtifactByName(owner(req), r.id, a.file_name);
    if (!s) return null;
    return { artifact: a, text: await readText(await storage.get(s.storageKey), REPORT_LIMIT) };
  }

  // Runs newest first, filtered by dataset and state, one page at a time.
  app.get("/v1/run-summaries", async (req) => {
    const q = query(req);
    const limit = Math.min(200, Math.max(1, Number(q.limit ?? 25) || 25));
    const offset = Math.max(0, Number(q.offset ?? 0) || 0);
    if (q.state && !(RUN_STATES as readonly string[]).includes(q.state)) throw new HttpError(400, `query.state: expected one of ${RUN_STATES.join(", ")}, got ${JSON.stringify(q.state)}`);
    if (q.dataset_id && !(await store.getDataset(owner(req), q.dataset_id))) throw new HttpError(404, `dataset ${JSON.stringify(q.dataset_id)} not found`);
    // Filtered, counted and paged in SQL: a page costs the same at 40 runs or 40,000.
    const filter = { datasetId: q.dataset_id || undefined, state: (q.state || undefined) as RunState | undefined };
    const total = await store.countRuns(owner(req), filter);
    const page = await store.listRuns(owner(req), { ...filter, newestFirst: true, limit, offset });
    const names = new Map((await store.listDatasets(owner(req))).map((d) => [d.id, d.name]));
    const training = new Map<string, boolean>();
    for (const r of page) {
      if (!training.has(r.config_id)) {
        const c = await store.getConfig(owner(req), r.config_id);
        training.set(r.config_id, (c?.worker_config as { enable_training?: unknown } | undefined)?.enable_training === true);
      }
    }
    const workers = new Map((await store.listWorkers(owner(req))).map((w) => [w.id, w.name]));
    const now = Date.now();
    const selected = await Promise.all(page.map((r) => selectedCount(req, r)));
    const items: RunSummary[] = page.map((r, i) => ({
      id: r.id, dataset_id: r.dataset_id, dataset_name: names.get(r.dataset_id) ?? null, scheduled_id: r.scheduled_id,
      state: r.state, message: r.message, progress: r.progress, created_at: r.created_at, ended_at: r.ended_at,
      last_modified_at: r.last_modified_at, duration_ms: (r.ended_at ?? now) - r.created_at,
      training: training.get(r.config_id) ?? false, checkpoint: r.artifacts.some((a) => a.type === "CHECKPOINT"),
      worker_id: r.worker_id, worker_name: workers.get(r.worker_id) ?? null, selected_count: selected[i]!, checkpoint_source: r.checkpoint_source,
    }));
    return { total, offset, limit, items };
  });

  // One run's summary (the detail page's header: worker name, selected count).
  app.get("/v1/run-summaries/:id", async (req) => {
    const r = await run(req);
    const c = await store.getConfig(owner(req), r.config_id);
    const ds = await store.getDataset(owner(req), r.dataset_id);
    const w = (await store.listWorkers(owner(req))).find((x) => x.id === r.worker_id);
    const s: RunSummary = {
      id: r.id, dataset_id: r.dataset_id, dataset_name: ds?.name ?? null, scheduled_id: r.scheduled_id,
      state: r.state, message: r.message, progress: r.progress, created_at: r.created_at, ended_at: r.ended_at,
      last_modified_at: r.last_modified_at, duration_ms: (r.ended_at ?? Date.now()) - r.created_at,
      training: (c?.worker_config as { enable_training?: unknown } | undefined)?.enable_training === true,
      checkpoint: r.artifacts.some((a) => a.type === "CHECKPOINT"),
      worker_id: r.worker_id, worker_name: w?.name ?? null, selected_count: await selectedCount(req, r), checkpoint_source: r.checkpoint_source,
    };
    return s;
  });

  // The HTML report's text, for the UI to show in a sandboxed iframe (srcdoc: no token in a URL, the
  // page's CSP applies, and sandbox="" runs none of its scripts). Plain text: never rendered here.
  app.get("/v1/runs/:id/report-html", async (req, reply) => {
    const r = await run(req);
    const rep = await artifactText(req, r, "REPORT_HTML");
    if (!rep) throw new HttpError(404, `run ${r.id} (${r.state}) has no REPORT_HTML artifact`);
    return reply.type("text/plain; charset=utf-8").header("x-content-type-options", "nosniff").send(rep.text);
  });

  // The dataset form's check that a datasource folder exists under this server's datasource root
  // (where thumbnails are read). The API itself accepts any datasource: workers resolve it under
  // their own --datasource-root, which may be another machine's folder.
  app.get("/v1/datasource-check", async (req) => {
    const ds = String(query(req).datasource ?? "");
    if (/^s3:\/\//i.test(ds)) return { datasource: ds, exists: null, message: "an S3 datasource: not checked here (workers read the bucket)" };
    try {
      const abs = resolveInside(o.datasourceRoot, ds);
      const st = await fs.promises.stat(abs);
      await checkRealInside(abs, ds);
      if (!st.isDirectory()) return { datasource: ds, exists: false, message: `datasource ${JSON.stringify(ds)}: not a folder under the server's datasource root` };
      return { datasource: ds, exists: true, message: "" };
    } catch (e) {
      const why = e instanceof PathRefused ? e.reason : (e as NodeJS.ErrnoException).code === "ENOENT" ? "no such folder under the server's datasource root" : (e as Error).message;
      return { datasource: ds, exists: false, message: `datasource ${JSON.stringify(ds)}: ${why}` };
    }
  });

  await app.register(uiLiveRoutes, { store, workerTimeoutMs: o.workerTimeoutMs ?? 60_000 });

  // States as the run's log announced them ("[k/N] STATE" lines, server time), then its end state.
  app.get("/v1/runs/:id/timeline", async (req) => {
    const r = await run(req);
    const out: { state: string; at: number }[] = [];
    for (const l of await store.readLog(r.id, -1, { contains: "] ", limit: SCAN_LINES })) {
      const m = /\[\d+\/\d+\] ([A-Z_]+)\s*$/.exec(l.line);
      if (m && out[out.length - 1]?.state !== m[1]) out.push({ state: m[1]!, at: l.at });
    }
    if (r.ended_at !== null && out[out.length - 1]?.state !== r.state) out.push({ state: r.state, at: r.ended_at });
    return { state: r.state, created_at: r.created_at, ended_at: r.ended_at, stages: out };
  });

  // Training loss: report.json's per-step and per-epoch losses once the run has one, else the
  // "epoch k/N done: loss x" lines of the log so far (live).
  app.get("/v1/runs/:id/loss", async (req) => {
    const r = await run(req);
    const rep = await artifactText(req, r, "REPORT_JSON");
    if (rep) {
      const t = (JSON.parse(rep.text) as { training?: { stepLosses?: number[]; epochLosses?: number[] } | null }).training;
      if (t) return { source: "report", epoch_losses: t.epochLosses ?? [], step_losses: t.stepLosses ?? [] };
      return { source: "report", epoch_losses: [], step_losses: [] };
    }
    const epochs: number[] = [];
    for (const l of await store.readLog(r.id, -1, { contains: "epoch ", limit: SCAN_LINES })) {
      const m = /epoch (\d+)\/\d+(?: done)?: loss (-?[\d.]+(?:e[-+]?\d+)?|nan|inf)/i.exec(l.line);
      if (m) epochs[Number(m[1]) - 1] = Number(m[2]);
    }
    return { source: "log", epoch_losses: epochs.filter((v) => v !== undefined), step_losses: [] };
  });

  // The config as scheduled and as the worker resolves it (every default filled in).
  app.get("/v1/runs/:id/config", async (req) => {
    const r = await run(req);
    const c = await store.getConfig(owner(req), r.config_id);
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

  /** The map's artifacts copied to a private folder, computed by the thread pool, as JSON bytes. */
  async function computeMap(req: FastifyRequest, r: RunData, arts: (ArtifactData | undefined)[]): Promise<Buffer> {
    const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), "winnow-map-"));
    try {
      const files = await Promise.all(arts.map(async (a, i) => {
        if (!a) return null;
        const s = await store.getArtifactByName(owner(req), r.id, a.file_name);
        if (!s) throw new HttpError(404, `artifact ${a.file_name} not found`);
        const f = path.join(dir, String(i));
        await pipeline(await storage.get(s.storageKey), fs.createWriteStream(f));
        return f;
      }));
      return await mapPool.compute({ csv: files[0]!, selected: files[1]!, datapool: files[2]!, what: `run ${r.id} ${arts[0]!.file_name}` });
    } finally {
      await fs.promises.rm(dir, { recursive: true, force: true });
    }
  }

  // Computed in a worker thread (embedding-map-pool.ts), cached by artifact versions; concurrent
  // requests for one version share one computation, and a request that outlives its budget gets
  // 503 while the computation goes on to fill the cache.
  app.get("/v1/runs/:id/embedding-map", async (req, reply) => {
    const r = await run(req);
    const emb = r.artifacts.find((a) => a.type === "EMBEDDINGS");
    if (!emb) throw new HttpError(404, `run ${r.id} (${r.state}) has no EMBEDDINGS artifact yet`);
    const sel = r.artifacts.find((a) => a.type === "SELECTED_FILENAMES");
    const pool = r.artifacts.find((a) => a.type === "DATAPOOL_FILENAMES");
    for (const a of [emb, sel, pool]) {
      if (a && a.size > mapMaxBytes) throw new HttpError(413, `artifact ${a.file_name} (${a.type}) is ${a.size} bytes; the embedding map reads at most ${mapMaxBytes}`);
    }
    const key = [emb, sel, pool].map((a) => (a ? `${a.id}:${a.sha256}` : "-")).join("|");
    const json = await withBudget(maps.get(key, () => computeMap(req, r, [emb, sel, pool])), mapBudgetMs, `the embedding map of run ${r.id}`);
    return reply.type("application/json; charset=utf-8").send(json);
  });

  // A thumbnail of one image of the run's dataset: the name is resolved inside the datasource with
  // the same checks as the data loader (no absolute paths, "..", or symlinks), only image
  // extensions are read, only regular files are opened (regular-file.ts: a FIFO or device never
  // blocks a thread), and what goes out is sharp's re-encoding, never the file's own bytes.
  app.get("/v1/runs/:id/thumbnail", async (req, reply) => {
    const r = await run(req);
    const q = query(req);
    const file = q.file ?? "";
    const size = Math.min(512, Math.max(16, Number(q.size ?? 128) || 128));
    const ds = await store.getDataset(owner(req), r.dataset_id);
    if (!ds) throw new HttpError(404, `dataset ${JSON.stringify(r.dataset_id)} not found`);
    if (/^s3:\/\//i.test(ds.datasource)) throw new HttpError(404, `thumbnails are read from local datasources only; dataset ${ds.name} is at ${ds.datasource}`);
    // Object crops are named "<image>#<index>": show their image.
    const image = file.replace(/#\d+$/, "");
    let abs: string;
    try {
      abs = resolveInside(resolveInside(o.datasourceRoot, ds.datasource), image);
      if (!IMAGE_EXTENSIONS.has(extensionOf(image))) throw new PathRefused(image, "not an image file name");
      await checkRealInside(abs, image);
    } catch (e) {
      if (e instanceof PathRefused) throw new HttpError(404, `file ${e.message}`);
      throw e;
    }
    // Bounded: a few decodes at once (sharp's threads are shared by every tenant), a budget each.
    const out = await withBudget(thumbs.run(async () => {
      let bytes: Buffer;
      try {
        bytes = await readRegularFile(abs, image, thumbMaxBytes);
      } catch (e) {
        if (e instanceof PathRefused) throw new HttpError(404, `file ${e.message}`);
        throw e;
      }
      try {
        return await sharp(bytes, { limitInputPixels: 1e8 }).rotate().resize(size, size, { fit: "inside", withoutEnlargement: false }).webp({ quality: 80 }).toBuffer();
      } catch (e) {
        throw new HttpError(404, `file ${JSON.stringify(file)}: cannot be decoded (${(e as Error).message})`);
      }
    }), thumbBudgetMs, `the thumbnail of ${JSON.stringify(image)}`);
    reply.header("content-type", "image/webp");
    reply.header("cache-control", "private, max-age=3600");
    return reply.send(out);
  });

  // The dataset's datapool: the DATAPOOL_FILENAMES of its newest COMPLETED datapool run.
  app.get("/v1/datasets/:id/datapool", async (req) => {
    const id = params(req).id!;
    const ds = await store.getDataset(owner(req), id);
    if (!ds) throw new HttpError(404, `dataset ${JSON.stringify(id)} not found`);
    const s = await store.newestDatasetSelection(owner(req), ds.id, "");
    if (!s) return { run_id: null, size: 0 };
    const size = await datapoolSizes.get(`${s.artifact.id}:${s.artifact.sha256}`, async () => {
      const a = await store.getArtifactByName(owner(req), s.run.id, s.artifact.file_name);
      return a ? countLines(await storage.get(a.storageKey)) : 0;
    });
    return { run_id: s.run.id, size };
  });

  // The scheduling form's live check: the same schemas as scheduling, without creating anything.
  app.post("/v1/configs/validate", async (req) => {
    const parsed = createConfigBody.safeParse(req.body ?? {});
    if (!parsed.success) {
      return { valid: false, issues: parsed.error.issues.map((i) => ({ path: i.path.map(String).join(".") || "body", message: i.message })) };
    }
    const b = parsed.data;
    const issues = [...(checkScheduledConfig(b) ?? [])];
    const rid = (b.worker_config as { checkpoint_run_id?: unknown } | null | undefined)?.checkpoint_run_id;
    if (typeof rid === "string" && rid && !(await store.getRun(owner(req), rid))) {
      issues.push({ path: "worker_config.checkpoint_run_id", message: `run ${JSON.stringify(rid)} not found` });
    }
    return { valid: issues.length === 0, issues: issues.map((i) => ({ path: i.path, message: i.message })) };
  });
};
