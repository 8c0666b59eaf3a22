// The OpenAPI 3.1 document served at /openapi.json (a stable path). Request bodies come from the
// zod schemas the server validates with; the three config sections from src/config's schemas.
import { z } from "zod";
import { lightlyConfigSchema } from "../config/lightly-config.js";
import { workerConfigSchema } from "../config/worker-config.js";
import { selectionConfigSchema } from "../config/selection-config.js";
import { BODY_SCHEMAS } from "./schemas.js";
import { ARTIFACT_TYPES, PRIORITIES, RUN_STATES, SCHEDULED_STATES } from "../db/records.js";

function jsonSchema(s: z.ZodType): Record<string, unknown> {
  try {
    const j = z.toJSONSchema(s, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
    delete j.$schema;
    return j;
  } catch {
    return { type: "object" };
  }
}

type Op = { summary: string; body?: string; ok?: number; auth?: false; params?: string[]; query?: string[] };
const ROUTES: Record<string, Record<string, Op>> = {
  "/v1/health": { get: { summary: "Liveness", auth: false } },
  "/v1/datasets": { post: { summary: "Create a dataset (createDataset); its datasource folder must exist under the server's datasource root unless the server runs with --no-datasource-check", body: "CreateDataset", ok: 201 }, get: { summary: "List datasets, optionally those of one name (getDatasetsByName)", query: ["name"] } },
  "/v1/datasets/{id}": {
    get: { summary: "Get a dataset (getDatasetById)" },
    delete: { summary: "Delete a dataset with its scheduled runs, runs, logs and artifacts (deleteDatasetById; 409 while a run of it is queued or running)", ok: 204 },
  },
  "/v1/workers": { post: { summary: "Register a worker, or answer the existing one of that name with its labels replaced (registerComputeWorker)", body: "RegisterWorker", ok: 201 }, get: { summary: "List workers (getComputeWorkers)" } },
  "/v1/workers/{id}": { delete: { summary: "Delete a worker (deleteComputeWorker)", ok: 204 } },
  "/v1/workers/{id}/heartbeat": { post: { summary: "Worker heartbeat" } },
  "/v1/workers/{id}/claim": { post: { summary: "Long-poll for and claim the highest-priority fitting OPEN scheduled run (204: none)", body: "Claim" } },
  "/v1/configs": { post: { summary: "Create a config (createComputeWorkerConfig)", body: "CreateConfig", ok: 201 } },
  "/v1/configs/{id}": { get: { summary: "Get a config" } },
  "/v1/datasets/{id}/scheduled-runs": { post: { summary: "Schedule a run (scheduleComputeWorkerRun)", body: "ScheduleRun", ok: 201 }, get: { summary: "Scheduled runs of a dataset", query: ["state"] } },
  "/v1/scheduled-runs": { get: { summary: "Scheduled runs (getScheduledComputeWorkerRuns)", query: ["state"] } },
  "/v1/scheduled-runs/{id}": { get: { summary: "Get a scheduled run" } },
  "/v1/scheduled-runs/{id}/run": { get: { summary: "The run of a scheduled run (getComputeWorkerRunFromScheduledRun)" } },
  "/v1/scheduled-runs/{id}/cancel": { post: { summary: "Cancel (OPEN → CANCELED; LOCKED → the worker aborts)" } },
  "/v1/runs": { get: { summary: "Runs, oldest first unless order=desc (getComputeWorkerRuns); limit/offset page it, unpaged answers every run", query: ["dataset_id", "limit", "offset", "order"] } },
  "/v1/runs/{id}": { get: { summary: "Get a run (getComputeWorkerRun)" }, patch: { summary: "Worker: state, message, progress (header X-Winnow-Worker)", body: "RunUpdate" } },
  "/v1/runs/{id}/tags": { get: { summary: "Tags of a run's selection: its own id (COMPLETED runs) and the names given to it (getComputeWorkerRunTags)" }, post: { summary: "Name a COMPLETED run's selection (createComputeWorkerRunTag)", body: "CreateTag", ok: 201 } },
  "/v1/datasets/{id}/tags": { get: { summary: "The tag names given in a dataset, runs' own ids not listed (getDatasetTags)" } },
  "/v1/runs/{id}/log": { post: { summary: "Worker: append log lines", body: "LogLines" }, get: { summary: "Log lines", query: ["after"] } },
  "/v1/runs/{id}/artifacts": { get: { summary: "Artifacts of a run" } },
  "/v1/runs/{id}/artifacts/{name}": { put: { summary: "Worker: upload an artifact (application/octet-stream)", query: ["type"], ok: 201 }, get: { summary: "Download an artifact" } },
  "/v1/runs/{id}/artifacts/{name}/signed-url": { post: { summary: "A signed, expiring read URL (getComputeWorkerRunCheckpointUrl)", body: "SignedUrlRequest" } },
  "/v1/signed/artifacts/{artifactId}": { get: { summary: "Download through a signed URL (no token)", auth: false, query: ["expires", "signature"] } },
  // The web UI's data (ui-api.ts); the UI uses nothing that ApiWorkflowClient lacks.
  "/v1/run-summaries": { get: { summary: "Runs for the overview, newest first, paginated and filtered", query: ["limit", "offset", "state", "dataset_id"] } },
  "/v1/runs/{id}/timeline": { get: { summary: "State timeline of a run (from its log)" } },
  "/v1/runs/{id}/loss": { get: { summary: "Training loss per epoch and step" } },
  "/v1/runs/{id}/config": { get: { summary: "The run's config as scheduled and as resolved" } },
  "/v1/runs/{id}/embedding-map": { get: { summary: "2-D PCA map of the run's embeddings, selected samples flagged (cached)" } },
  "/v1/runs/{id}/map-metadata": { get: { summary: "Per-image metadata columns the embedding map colours by (the MAP_METADATA artifact)" } },
  "/v1/runs/{id}/thumbnail": { get: { summary: "A thumbnail of one of the run's images, read inside the datasource", query: ["file", "size"] } },
  "/v1/datasets/{id}/datapool": { get: { summary: "Datapool size of a dataset" } },
  "/v1/configs/validate": { post: { summary: "Validate a run config against the shared schemas (no run is created)" } },
  "/v1/run-summaries/{id}": { get: { summary: "One run's summary: worker name, selected count, dataset name" } },
  "/v1/runs/{id}/report-html": { get: { summary: "The run's HTML report as text (the UI shows it in a sandboxed iframe)" } },
  "/v1/worker-summaries": { get: { summary: "Workers with liveness (heartbeat within the dead-worker timeout) and current run" } },
  "/v1/datasource-check": { get: { summary: "Whether a datasource folder exists under the server's datasource root (the dataset form's check)", query: ["datasource"] } },
  "/v1/queue-summaries": { get: { summary: "OPEN scheduled runs with the number of live workers whose labels fit" } },
};

/** Every documented (method, path) pair, path in fastify's `:param` form: tests compare it with the registered routes. */
export function documentedRoutes(): { method: string; url: string }[] {
  const out = [{ method: "GET", url: "/openapi.json" }];
  for (const [p, ops] of Object.entries(ROUTES)) for (const m of Object.keys(ops)) out.push({ method: m.toUpperCase(), url: p.replace(/\{(\w+)\}/g, ":$1") });
  return out;
}

/** The body schema documented for a route (fastify's `:param` path), which must be the one it validates with. */
export function documentedBody(method: string, url: string): z.ZodType | undefined {
  const op = ROUTES[url.replace(/:(\w+)/g, "{$1}")]?.[method.toLowerCase()];
  return op?.body ? BODY_SCHEMAS[op.body as keyof typeof BODY_SCHEMAS] : undefined;
}

let cached: Record<string, unknown> | null = null;

export function openApiDocument(): Record<string, unknown> {
  if (cached) return cached;
  const schemas: Record<string, unknown> = {
    WorkerConfig: jsonSchema(workerConfigSchema),
    SelectionConfig: jsonSchema(selectionConfigSchema),
    LightlyConfig: jsonSchema(lightlyConfigSchema),
    RunState: { type: "string", enum: [...RUN_STATES] },
    ScheduledState: { type: "string", enum: [...SCHEDULED_STATES] },
    Priority: { type: "string", enum: [...PRIORITIES] },
    ArtifactType: { type: "string", enum: [...ARTIFACT_TYPES] },
    Error: {
      type: "object",
      properties: { error: { type: "integer" }, message: { type: "string" }, field: { type: "string" }, code: { type: "string", description: "WinnowError code (invalid_input, not_found, conflict, …)" } },
      required: ["error", "message"],
    },
  };
  for (const [name, s] of Object.entries(BODY_SCHEMAS)) schemas[name] = jsonSchema(s);
  const paths: Record<string, unknown> = { "/openapi.json": { get: { summary: "This document", security: [], responses: { 200: { description: "OK" } } } } };
  for (const [p, ops] of Object.entries(ROUTES)) {
    const item: Record<string, unknown> = {};
    for (const [method, op] of Object.entries(ops)) {
      const parameters = [
        ...[...p.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: "path", required: true, schema: { type: "string" } })),
        ...(op.query ?? []).map((q) => ({ name: q, in: "query", required: false, schema: { type: "string" } })),
      ];
      const err = (d: string) => ({ description: d, content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } });
      item[method] = {
        summary: op.summary,
        ...(op.auth === false ? { security: [] } : {}),
        ...(parameters.length ? { parameters } : {}),
        ...(op.body ? { requestBody: { required: true, content: { "application/json": { schema: { $ref: `#/components/schemas/${op.body}` } } } } } : {}),
        responses: { [op.ok ?? 200]: { description: "OK" }, 400: err("Invalid input (`field` names it)"), 401: err("Missing or wrong token"), 404: err("Not found, or another token's"), 409: err("Conflict") },
      };
    }
    paths[p] = item;
  }
  cached = {
    openapi: "3.1.0",
    info: { title: "Winnow service API", version: "1" },
    components: { securitySchemes: { token: { type: "http", scheme: "bearer" } }, schemas },
    security: [{ token: [] }],
    paths,
  };
  return cached;
}
