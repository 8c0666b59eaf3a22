// The HTTP API (fastify). Every route under /v1 needs `Authorization: Bearer <token>` except the
// health check and signed artifact URLs (their HMAC is the authorization); /openapi.json is public.
// Records of another token's owner answer 404 exactly as ids that do not exist.
import { EventEmitter } from "node:events";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Readable } from "node:stream";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { z } from "zod";
import type { Store, Principal } from "../db/store.js";
import { ConflictError, newId } from "../db/store.js";
import { RUN_END_STATES } from "../db/records.js";
import type { ArtifactType, ConfigData, DatasetData, RunData, WorkerData } from "../db/records.js";
import { resolveInside, PathRefused } from "../data/folder.js";
import { checkScheduledConfig, checkScheduledSources, configTagNames, type ScheduleContext } from "./configs.js";
import { TagStore, TAG_NAME } from "../db/tags.js";
import type { ConfigIssue } from "../config/lightly-config.js";
import { openApiDocument } from "./openapi.js";
import {
  artifactTypeQuery, claimBody, CONTROL_CHARS, createConfigBody, createTagBody, createDatasetBody, logBody, registerWorkerBody, runUpdateBody,
  runsQuery, scheduleBody, scheduledStateQuery, signedUrlBody,
} from "./schemas.js";
import { checkArtifactName, StorageFull, TooLarge, type ArtifactStorage } from "./storage.js";
import { truncateText } from "../util/truncate-text.js";
import { checkSignature, signArtifact } from "./signing.js";
import { registerUiApi, type UiApiOptions } from "./ui-api.js";
import { registerUiStatic } from "./ui-static.js";
import { jsonDepthExceeded, MAX_JSON_DEPTH } from "./json-depth.js";
import { handlerBudgetMs, SERVER_TIMEOUTS } from "./time-budgets.js";
import { isS3Url, parseS3Url, s3UrlOf } from "../s3/client.js";

export interface AppOptions {
  store: Store;
  storage: ArtifactStorage;
  /** Folder every dataset's datasource is relative to. */
  datasourceRoot: string;
  /** HMAC key for signed URLs (hex). */
  signingSecret: string;
  /** Base of the URLs the server hands out (signed URLs), e.g. http://host:port. */
  publicUrl: () => string;
  /** Largest JSON body (bytes). */
  bodyLimit?: number;
  /** Largest artifact upload (bytes). */
  artifactLimit?: number;
  /** Seconds a signed URL handed to a worker for a checkpoint stays valid. */
  workerUrlTtl?: number;
  /**
   * Answer downloads with a redirect to the storage's own presigned URL where it has them (S3),
   * so artifact bytes do not pass through the API (default true). Off: the server streams them.
   */
  storageRedirect?: boolean;
  /** Folders besides a dataset's datasource that scheduled configs may name by absolute path (--allow-root). */
  allowRoots?: string[];
  logger?: boolean;
  /** Bounds of the UI's heavy routes (embedding map, thumbnails); defaults in ui-api.ts. */
  ui?: Pick<UiApiOptions, "embeddingMap" | "thumbnails" | "workerTimeoutMs">;
  /**
   * How often a long-polling claim re-checks the queue without a wake-up (ms; default 1000). With
   * LISTEN/NOTIFY running, schedules on other replicas wake it, so serve() lengthens this then.
   */
  claimPollMs?: () => number;
}

/** An error the API answers with its status, message and (400) the offending field. */
export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly field?: string) {
    super(message);
  }
}

const notFound = (what: string, id: string): HttpError => new HttpError(404, `${what} ${JSON.stringify(id)} not found`);

function parse<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const r = schema.safeParse(value ?? {});
  if (r.success) return r.data;
  const i = r.error.issues[0]!;
  const field = i.path.map(String).join(".");
  throw new HttpError(400, `${where}${field ? `.${field}` : ""}: ${i.message}`, field || undefined);
}

declare module "fastify" {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export function buildApp(o: AppOptions): { app: FastifyInstance; wake: EventEmitter; routes: { method: string; url: string }[] } {
  const { store, storage } = o;
  const tags = new TagStore(store.db);
  const app = Fastify({
    logger: o.logger ?? false,
    bodyLimit: o.bodyLimit ?? 1 << 20,
    // Artifact names may be 200 characters (checkArtifactName answers 400 past that, naming the field).
    routerOptions: { maxParamLength: 256 },
    ...SERVER_TIMEOUTS,
    // The router's own refusals (a path that does not percent-decode, an over-long parameter) in
    // the API's error shape.
    frameworkErrors: (err, _req, reply: FastifyReply) => {
      const status = err.statusCode ?? 400;
      void reply.code(status).send({ error: status, message: err.message });
    },
  });
  // Each route's handler budget (time-budgets.ts); past it fastify answers 503.
  app.addHook("onRoute", (r) => {
    r.handlerTimeout ??= handlerBudgetMs(r.url ?? r.path ?? "");
  });
  const wake = new EventEmitter();
  // Every route as registered (the OpenAPI test checks each /v1 route is documented).
  const routes: { method: string; url: string }[] = [];
  app.addHook("onRoute", (r) => {
    for (const m of [r.method].flat()) if (m !== "HEAD") routes.push({ method: m, url: r.url });
  });
  wake.setMaxListeners(0);
  let wakeGeneration = 0;
  wake.prependListener("scheduled", () => wakeGeneration++);
  const artifactLimit = o.artifactLimit ?? 8 * 1024 ** 3;
  const realRoot = fs.realpathSync(o.datasourceRoot);

  // JSON bodies: nesting depth checked on the raw text before parsing (json-depth.ts), then
  // fastify's own parser (which refuses __proto__/constructor poisoning).
  const parseJson = app.getDefaultJsonParser("error", "error");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (req, body, done) => {
    const at = jsonDepthExceeded(body as string);
    if (at >= 0) return done(new HttpError(400, `body: JSON nested deeper than ${MAX_JSON_DEPTH} levels (at character ${at})`, "body"), undefined);
    return parseJson(req, body as string, done);
  });
  // Names, ids and query values never carry control characters (NUL included).
  app.addHook("preValidation", async (req) => {
    for (const [where, values] of [["params", req.params], ["query", req.query]] as const) {
      for (const [k, v] of Object.entries((values ?? {}) as Record<string, unknown>)) {
        for (const x of [v].flat()) {
          if (typeof x === "string" && CONTROL_CHARS.test(x)) throw new HttpError(400, `${where}.${k}: control characters (NUL, newline, …) are not allowed`, `${where}.${k}`);
        }
      }
    }
  });

  // Artifact bodies are streamed to storage as they arrive, never buffered.
  app.addContentTypeParser("application/octet-stream", (_req, payload, done) => done(null, payload));
  app.decorateRequest("principal", null);

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    // An upload refused part-way leaves unread body bytes on the connection: close it, or the
    // client's next request on that keep-alive connection would wait behind them.
    if (!req.raw.complete) reply.header("connection", "close");
    if (err instanceof HttpError) return reply.code(err.status).send({ error: err.status, message: err.message, ...(err.field ? { field: err.field } : {}) });
    if (err instanceof ConflictError) return reply.code(409).send({ error: 409, message: err.message });
    if (err instanceof StorageFull) return reply.code(507).send({ error: 507, message: err.message });
    if (err instanceof TooLarge || err.code === "FST_ERR_CTP_BODY_TOO_LARGE") return reply.code(413).send({ error: 413, message: err.message });
    // 503: a bound on heavy work was reached (bounded-work.ts) or a handler ran past its budget.
    if (err.statusCode === 503) {
      reply.header("retry-after", String((err as { retryAfterSec?: number }).retryAfterSec ?? 5));
      return reply.code(503).send({ error: 503, message: err.message });
    }
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    return reply.code(status).send({ error: status, message: status === 500 ? `internal error: ${err.message}` : err.message });
  });

  const PUBLIC = new Set(["/openapi.json", "/v1/health"]);
  app.addHook("onRequest", async (req) => {
    const url = req.routeOptions.url ?? req.url;
    // Routes marked config.public: the web UI's static files (ui-static.ts).
    if (PUBLIC.has(url) || url.startsWith("/v1/signed/") || (req.routeOptions.config as { public?: boolean } | undefined)?.public) return;
    const h = req.headers.authorization;
    const m = typeof h === "string" ? /^Bearer\s+(\S+)$/i.exec(h) : null;
    if (!m) throw new HttpError(401, "missing API token: send `Authorization: Bearer <token>` (create one with `winnow token create`)");
    const p = await store.authenticate(m[1]!);
    if (!p) throw new HttpError(401, "API token not recognised (wrong, or revoked)");
    req.principal = p;
  });

  const owner = (req: FastifyRequest): string => req.principal!.owner;
  const params = (req: FastifyRequest): Record<string, string> => req.params as Record<string, string>;
  const query = (req: FastifyRequest): Record<string, string | undefined> => req.query as Record<string, string | undefined>;

  async function dataset(req: FastifyRequest, id: string): Promise<DatasetData> {
    const d = await store.getDataset(owner(req), id);
    if (!d) throw notFound("dataset", id);
    return d;
  }
  async function run(req: FastifyRequest, id: string): Promise<RunData> {
    const r = await store.getRun(owner(req), id);
    if (!r) throw notFound("run", id);
    return r;
  }
  async function worker(req: FastifyRequest, id: string): Promise<WorkerData> {
    const w = await store.getWorker(owner(req), id);
    if (!w) throw notFound("worker", id);
    return w;
  }
  /** The calling worker (header X-Winnow-Worker) must be the one that holds the run. */
  async function workerRun(req: FastifyRequest, id: string): Promise<{ run: RunData; workerId: string }> {
    const r = await run(req, id);
    const wid = req.headers["x-winnow-worker"];
    if (typeof wid !== "string" || wid !== r.worker_id) throw new HttpError(403, `run ${id} is held by worker ${r.worker_id}; send its id in X-Winnow-Worker`);
    return { run: r, workerId: wid };
  }

  /** A signed URL bound to the calling token: revoking that token ends the URL too. */
  function signedUrl(req: FastifyRequest, artifactId: string, ttlSec: number): { url: string; expires_at: number } {
    const exp = Math.floor(Date.now() / 1000) + ttlSec;
    const tokenId = req.principal!.tokenId;
    const sig = signArtifact(o.signingSecret, artifactId, tokenId, exp);
    return { url: `${o.publicUrl()}/v1/signed/artifacts/${artifactId}?expires=${exp}&signature=${sig}&t=${tokenId}`, expires_at: exp * 1000 };
  }

  /** Ended runs are immutable: their artifacts and log are refused with 409. */
  const endedConflict = (r: RunData, what: string): ConflictError =>
    new ConflictError(`run ${r.id} has ended (${r.state}); ${what} refused: the artifacts and log of an ended run cannot change`);

  function checkDatasource(ds: string): string {
    // An S3 prefix: workers list and mirror it themselves (src/data/s3-mirror.ts).
    if (isS3Url(ds)) {
      try {
        return s3UrlOf(parseS3Url(ds, "datasource"));
      } catch (e) {
        throw new HttpError(400, (e as Error).message, "datasource");
      }
    }
    let abs: string;
    try {
      abs = resolveInside(realRoot, ds.replace(/\/+$/, ""));
    } catch (e) {
      if (e instanceof PathRefused) throw new HttpError(400, `datasource: ${e.reason} (a folder relative to the datasource root)`, "datasource");
      throw e;
    }
    // Where the server can see the folder, it must not lead out of the root through a symlink.
    if (fs.existsSync(abs)) {
      const real = fs.realpathSync(abs);
      if (real !== abs) throw new HttpError(400, `datasource ${JSON.stringify(ds)}: symbolic link in the path (it may lead outside the datasource root)`, "datasource");
      if (!fs.statSync(real).isDirectory()) throw new HttpError(400, `datasource ${JSON.stringify(ds)} is not a folder`, "datasource");
    }
    return path.relative(realRoot, abs);
  }

  async function stream(reply: FastifyReply, key: string, fileName: string, size: number, ttlSec = 900): Promise<FastifyReply> {
    if (storage.presignGet && o.storageRedirect !== false) {
      // The presigned URL only has to outlive the start of the download (S3 checks it once).
      return reply.redirect(await storage.presignGet(key, Math.min(ttlSec, 900), fileName), 302);
    }
    let body: Readable;
    try {
      body = await storage.get(key);
    } catch {
      throw new HttpError(404, `artifact ${JSON.stringify(fileName)}: stored bytes are missing`);
    }
    reply.header("content-type", "application/octet-stream");
    reply.header("content-length", String(size));
    reply.header("content-disposition", `attachment; filename="${fileName}"`);
    return reply.send(body);
  }

  // ---- public ---------------------------------------------------------------------------------------

  app.get("/openapi.json", async () => openApiDocument());
  app.get("/v1/health", async () => ({ ok: true }));

  // ---- datasets -------------------------------------------------------------------------------------

  app.post("/v1/datasets", async (req, reply) => {
    const b = parse(createDatasetBody, req.body, "body");
    const d = await store.createDataset(owner(req), b.name, checkDatasource(b.datasource));
    return reply.code(201).send(d);
  });
  app.get("/v1/datasets", async (req) => {
    const name = query(req).name;
    return store.listDatasets(owner(req), typeof name === "string" ? name : undefined);
  });
  app.get("/v1/datasets/:id", async (req) => dataset(req, params(req).id!));
  // Deletes the dataset's records (scheduled runs, runs, logs, artifacts) and artifact bytes;
  // 409 while any of its runs is queued or running. Its datasource folder is not touched.
  app.delete("/v1/datasets/:id", async (req, reply) => {
    const id = params(req).id!;
    const gone = await store.deleteDataset(owner(req), id);
    if (!gone) throw notFound("dataset", id);
    // The records are gone already; a byte that cannot be deleted now is only wasted space.
    for (const key of gone.storageKeys) {
      await storage.delete(key).catch((e: Error) => req.log.warn(`dataset ${id}: artifact ${key} not deleted from storage: ${e.message}`));
    }
    return reply.code(204).send();
  });

  // ---- workers --------------------------------------------------------------------------------------

  app.post("/v1/workers", async (req, reply) => {
    const b = parse(registerWorkerBody, req.body, "body");
    return reply.code(201).send(await store.registerWorker(owner(req), b.name, [...new Set(b.labels)]));
  });
  app.get("/v1/workers", async (req) => store.listWorkers(owner(req)));
  app.delete("/v1/workers/:id", async (req, reply) => {
    if (!(await store.deleteWorker(owner(req), params(req).id!))) throw notFound("worker", params(req).id!);
    return reply.code(204).send();
  });
  app.post("/v1/workers/:id/heartbeat", async (req) => {
    if (!(await store.heartbeat(owner(req), params(req).id!))) throw notFound("worker", params(req).id!);
    return { ok: true };
  });

  // Long-poll: answers a claimed run as soon as one fits, or 204 after wait_ms.
  app.post("/v1/workers/:id/claim", async (req, reply) => {
    const w = await worker(req, params(req).id!);
    const { wait_ms } = parse(claimBody, req.body, "body");
    const deadline = Date.now() + wait_ms;
    let gone = false;
    req.raw.on("close", () => (gone = true));
    for (;;) {
      // A wake-up during the claim query must not be missed: compare generations afterwards.
      const seen = wakeGeneration;
      await store.heartbeat(owner(req), w.id);
      const got = await store.claim(owner(req), w);
      if (got) return claimAnswer(req, got.run, got.scheduled.config_id);
      const left = deadline - Date.now();
      if (left <= 0 || gone) return reply.code(204).send();
      if (wakeGeneration !== seen) continue;
      // Woken by a schedule (this server's, or another replica's through NOTIFY); the timer
      // catches schedules whose wake-up was lost (no LISTEN connection at the time).
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, Math.min(left, o.claimPollMs?.() ?? 1000));
        function done(): void {
          clearTimeout(t);
          wake.off("scheduled", done);
          resolve();
        }
        wake.on("scheduled", done);
      });
    }
  });

  /** What a worker needs to run a claimed run: configs, datasource, and resolved checkpoint inputs. */
  async function claimAnswer(req: FastifyRequest, r: RunData, configId: string) {
    const cfg = (await store.getConfig(owner(req), configId))!;
    const ds = (await store.getDataset(owner(req), r.dataset_id))!;
    const wc = (cfg.worker_config ?? {}) as Record<string, unknown>;
    const ttl = o.workerUrlTtl ?? 24 * 3600;
    let checkpoint: { source: string; url: string } | { error: string } | null = null;
    let datapool: { run_id: string; url: string } | null = null;
    // Automatic resume of a CRASHED run: its CHECKPOINT (with resume state) replaces the config's
    // starting checkpoint; a worker that knows `resume` continues training from it.
    const resumes = await store.resumeOf(owner(req), r.scheduled_id);
    const from = resumes ? await store.getRun(owner(req), resumes.runId) : null;
    const fromCkpt = from?.artifacts.find((a) => a.type === "CHECKPOINT");
    let resume: { run_id: string; attempt: number; url: string } | null = null;
    if (resumes && from && fromCkpt) {
      resume = { run_id: from.id, attempt: resumes.attempt, url: signedUrl(req, fromCkpt.id, ttl).url };
      checkpoint = { source: `resume:${from.id}`, url: resume.url };
    } else if (typeof wc.checkpoint_run_id === "string" && wc.checkpoint_run_id) {
      const src = await store.getRun(owner(req), wc.checkpoint_run_id);
      const art = src?.artifacts.find((a) => a.type === "CHECKPOINT");
      checkpoint = !src
        ? { error: `worker_config.checkpoint_run_id: run ${JSON.stringify(wc.checkpoint_run_id)} not found` }
        : !art
          ? { error: `worker_config.checkpoint_run_id: run ${src.id} (${src.state}) has no CHECKPOINT artifact` }
          : { source: `run:${src.id}`, url: signedUrl(req, art.id, ttl).url };
    } else if (wc.use_datapool === true && !(typeof wc.checkpoint === "string" && wc.checkpoint)) {
      const c = await store.newestDatasetCheckpoint(owner(req), r.dataset_id, r.id);
      if (c) checkpoint = { source: `datapool:${c.run.id}`, url: signedUrl(req, c.artifact.id, ttl).url };
    }
    if (wc.use_datapool === true) {
      const s = await store.newestDatasetSelection(owner(req), r.dataset_id, r.id);
      if (s) datapool = { run_id: s.run.id, url: signedUrl(req, s.artifact.id, ttl).url };
    }
    // SIMILARITY's tag_name: the tagged run's selected filenames, fetched by the worker with the job.
    const tagged = await tags.resolve(owner(req), r.dataset_id, configTagNames(cfg));
    const tagUrls = Object.fromEntries([...tagged].map(([name, t]) => [name, { run_id: t.run_id, url: signedUrl(req, t.artifact_id, ttl).url }]));
    return { run: r, config: cfg satisfies ConfigData, dataset: ds, checkpoint, datapool, resume, tags: tagUrls };
  }

  // ---- configs and scheduled runs -------------------------------------------------------------------

  const allowRoots = (o.allowRoots ?? []).map((r) => path.resolve(r));
  /** Where a config scheduled on `ds` runs, as far as the server knows (for the path checks). */
  const scheduleContext = (ds?: DatasetData): ScheduleContext =>
    ds ? { datasourceDir: isS3Url(ds.datasource) ? null : path.join(realRoot, ds.datasource), allowRoots } : { allowRoots };
  const refuseIssues = (issues: ConfigIssue[] | null): void => {
    if (issues) throw new HttpError(400, issues.map((i) => `${i.path}: ${i.message}`).join("; "), issues[0]!.path);
  };
  /**
   * What the worker would refuse at INITIALIZING, refused now: unknown tags of the dataset and (when
   * the datasource is on this server's disk) missing metadata / prediction files.
   */
  async function refuseMissingSources(req: FastifyRequest, c: Parameters<typeof checkScheduledSources>[0], ds: DatasetData): Promise<void> {
    const known = await tags.resolve(owner(req), ds.id, configTagNames(c));
    const dir = scheduleContext(ds).datasourceDir ?? null;
    refuseIssues(checkScheduledSources(c, dir && fs.existsSync(dir) ? dir : null, Object.fromEntries([...known.keys()].map((k) => [k, []]))));
  }

  async function createConfig(req: FastifyRequest, b: { worker_config?: Record<string, unknown> | null; selection_config?: Record<string, unknown> | null; lightly_config?: Record<string, unknown> | null }, ds?: DatasetData): Promise<ConfigData> {
    refuseIssues(checkScheduledConfig(b, scheduleContext(ds)));
    const wc = b.worker_config ?? {};
    if (typeof wc.checkpoint_run_id === "string" && wc.checkpoint_run_id && !(await store.getRun(owner(req), wc.checkpoint_run_id))) {
      throw new HttpError(400, `worker_config.checkpoint_run_id: run ${JSON.stringify(wc.checkpoint_run_id)} not found`, "worker_config.checkpoint_run_id");
    }
    return store.createConfig(owner(req), { worker_config: wc, selection_config: b.selection_config ?? null, lightly_config: b.lightly_config ?? {} });
  }

  app.post("/v1/configs", async (req, reply) => reply.code(201).send(await createConfig(req, parse(createConfigBody, req.body, "body"))));
  app.get("/v1/configs/:id", async (req) => {
    const c = await store.getConfig(owner(req), params(req).id!);
    if (!c) throw notFound("config", params(req).id!);
    return c;
  });

  app.post("/v1/datasets/:id/scheduled-runs", async (req, reply) => {
    const ds = await dataset(req, params(req).id!);
    const b = parse(scheduleBody, req.body, "body");
    let configId: string;
    if (b.config_id) {
      if (b.worker_config || b.selection_config || b.lightly_config) throw new HttpError(400, "give config_id or the config sections, not both", "config_id");
      const stored = await store.getConfig(owner(req), b.config_id);
      if (!stored) throw new HttpError(400, `config_id: config ${JSON.stringify(b.config_id)} not found`, "config_id");
      // The dataset is known only now: judge the config's paths against its datasource.
      refuseIssues(checkScheduledConfig(stored, scheduleContext(ds)));
      await refuseMissingSources(req, stored, ds);
      configId = b.config_id;
    } else {
      refuseIssues(checkScheduledConfig(b, scheduleContext(ds)));
      await refuseMissingSources(req, b, ds);
      configId = (await createConfig(req, b, ds)).id;
    }
    const s = await store.schedule(owner(req), ds.id, configId, b.priority, [...new Set(b.runs_on)]);
    wake.emit("scheduled");
    return reply.code(201).send(s);
  });
  app.get("/v1/datasets/:id/scheduled-runs", async (req) => {
    const ds = await dataset(req, params(req).id!);
    const st = query(req).state;
    return store.listScheduled(owner(req), { datasetId: ds.id, state: st ? parse(scheduledStateQuery, st, "query.state") : undefined });
  });
  app.get("/v1/scheduled-runs", async (req) => {
    const st = query(req).state;
    return store.listScheduled(owner(req), { state: st ? parse(scheduledStateQuery, st, "query.state") : undefined });
  });
  app.get("/v1/scheduled-runs/:id", async (req) => {
    const s = await store.getScheduled(owner(req), params(req).id!);
    if (!s) throw notFound("scheduled run", params(req).id!);
    return s;
  });
  app.get("/v1/scheduled-runs/:id/run", async (req) => {
    const s = await store.getScheduled(owner(req), params(req).id!);
    if (!s) throw notFound("scheduled run", params(req).id!);
    const r = await store.getRunOfScheduled(owner(req), s.id);
    if (!r) throw new HttpError(404, `scheduled run ${s.id} has no run yet (state ${s.state})`);
    return r;
  });
  app.post("/v1/scheduled-runs/:id/cancel", async (req) => {
    const s = await store.cancelScheduled(owner(req), params(req).id!);
    if (!s) throw notFound("scheduled run", params(req).id!);
    if (s.state === "DONE") throw new HttpError(409, `scheduled run ${s.id} has already finished`);
    return s;
  });

  // ---- runs -----------------------------------------------------------------------------------------

  // Oldest first (Lightly's order); `limit`/`offset` page it (unpaged: every run), `order=desc` newest first.
  app.get("/v1/runs", async (req) => {
    const q = parse(runsQuery, req.query, "query");
    if (q.dataset_id) await dataset(req, q.dataset_id);
    return store.listRuns(owner(req), { datasetId: q.dataset_id, limit: q.limit, offset: q.offset, newestFirst: q.order === "desc" });
  });
  app.get("/v1/runs/:id", async (req) => run(req, params(req).id!));
  // Tags: the run's own name (COMPLETED with a selection) and the names users gave its selection.
  app.get("/v1/runs/:id/tags", async (req) => {
    const t = await tags.ofRun(owner(req), params(req).id!);
    if (!t) throw notFound("run", params(req).id!);
    return t;
  });
  app.post("/v1/runs/:id/tags", async (req, reply) => {
    await run(req, params(req).id!); // 404 before the body is judged (another owner's ids look unknown)
    const b = parse(createTagBody, req.body, "body");
    if (!TAG_NAME.test(b.name)) throw new HttpError(400, `name: ${JSON.stringify(b.name)} is not a tag name; allowed: 3-128 letters, digits, space and . : ; = @ _ -, starting with a letter or digit`, "name");
    const t = await tags.create(owner(req), params(req).id!, b.name);
    if (t === null) throw notFound("run", params(req).id!);
    if (typeof t === "string") throw new HttpError(409, t, "run");
    return reply.code(201).send(t);
  });
  app.get("/v1/datasets/:id/tags", async (req) => tags.ofDataset(owner(req), (await dataset(req, params(req).id!)).id));
  app.patch("/v1/runs/:id", async (req) => {
    const { run: r, workerId } = await workerRun(req, params(req).id!);
    const b = parse(runUpdateBody, req.body, "body");
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
  app.post("/v1/runs/:id/log", async (req) => {
    const { run: r } = await workerRun(req, params(req).id!);
    const b = parse(logBody, req.body, "body");
    if (!(await store.appendLog(owner(req), r.id, b.lines.map((l) => truncateText(l))))) {
      throw endedConflict((await store.getRun(owner(req), r.id))!, "log lines");
    }
    return { ok: true };
  });
  app.get("/v1/runs/:id/log", async (req) => {
    const r = await run(req, params(req).id!);
    const after = Number(query(req).after ?? -1);
    return store.readLog(r.id, Number.isFinite(after) ? after : -1);
  });

  // ---- artifacts ------------------------------------------------------------------------------------

  app.put("/v1/runs/:id/artifacts/:name", async (req, reply) => {
    const { run: r } = await workerRun(req, params(req).id!);
    const name = params(req).name!;
    const bad = checkArtifactName(name);
    if (bad) throw new HttpError(400, bad, "name");
    const type = parse(artifactTypeQuery, query(req).type ?? "OTHER", "query.type") as ArtifactType;
    if (!req.body || typeof (req.body as Readable).pipe !== "function") throw new HttpError(400, "artifact body must be sent as application/octet-stream");
    if (RUN_END_STATES.has(r.state)) throw endedConflict(r, `artifact ${JSON.stringify(name)}`);
    // A fresh key per upload: the bytes of the recorded artifact are never overwritten, so an upload
    // refused below (the run ended meanwhile) leaves the kept checkpoint exactly as it was.
    const key = `${owner(req)}/${r.id}/${name}.${newId()}`;
    let stored;
    try {
      stored = await storage.put(key, req.body as Readable, artifactLimit);
    } catch (e) {
      if (e instanceof StorageFull) throw new HttpError(507, `artifact ${JSON.stringify(name)} of run ${r.id}: ${e.message}`);
      throw e;
    }
    const put = await store.putArtifact(owner(req), r.id, { name, type, size: stored.size, sha256: stored.sha256, storageKey: key });
    if (!put) {
      await storage.delete(key).catch(() => {});
      throw endedConflict((await store.getRun(owner(req), r.id))!, `artifact ${JSON.stringify(name)}`);
    }
    if (put.replacedKey) await storage.delete(put.replacedKey).catch(() => {});
    return reply.code(201).send(put.data);
  });
  app.get("/v1/runs/:id/artifacts", async (req) => (await run(req, params(req).id!)).artifacts);
  app.get("/v1/runs/:id/artifacts/:name", async (req, reply) => {
    const r = await run(req, params(req).id!);
    const a = await store.getArtifactByName(owner(req), r.id, params(req).name!);
    if (!a) throw notFound("artifact", params(req).name!);
    return stream(reply, a.storageKey, a.data.file_name, a.data.size);
  });
  app.post("/v1/runs/:id/artifacts/:name/signed-url", async (req) => {
    const r = await run(req, params(req).id!);
    const a = await store.getArtifactByName(owner(req), r.id, params(req).name!);
    if (!a) throw notFound("artifact", params(req).name!);
    const b = parse(signedUrlBody, req.body, "body");
    return signedUrl(req, a.data.id, b.expires_in);
  });
  app.get("/v1/signed/artifacts/:artifactId", async (req, reply) => {
    const id = params(req).artifactId!;
    const q = query(req);
    const check = checkSignature(o.signingSecret, id, q, Date.now());
    if (!check.ok) throw new HttpError(403, `signed URL refused: ${check.reason}`);
    if (!(await store.tokenActive(check.tokenId))) throw new HttpError(403, "signed URL refused: the token that made it has been revoked");
    const a = await store.getArtifactById(id);
    if (!a) throw notFound("artifact", id);
    return stream(reply, a.storageKey, a.data.file_name, a.data.size, Number(q.expires) - Date.now() / 1000);
  });

  registerUiApi(app, { store, storage, datasourceRoot: realRoot, ...o.ui });
  registerUiStatic(app);

  return { app, wake, routes };
}
