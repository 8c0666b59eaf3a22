// Request bodies of the API as zod schemas: the server validates with them and the OpenAPI document
// is generated from them, so the two cannot disagree.
import { z } from "zod";
import { unnamedQuery } from "./validation.js";
import { ARTIFACT_TYPES, PRIORITIES, RUN_STATES, SCHEDULED_STATES } from "../db/records.js";

/** C0 controls, DEL and C1 controls: never part of a name (NUL truncates C strings and file names). */
export const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;
const noControl = (s: string): boolean => !CONTROL_CHARS.test(s);
const CONTROL_MESSAGE = "control characters (NUL, newline, tab, …) are not allowed";

const label = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, "a label is 1–64 characters of A-Z a-z 0-9 _ . : -");
const name = z.string().min(1).max(200).refine(noControl, CONTROL_MESSAGE);
const configSection = z.record(z.string(), z.unknown()).nullable().optional();

export const createDatasetBody = z.strictObject({
  name,
  /** A folder relative to the datasource root that servers and workers share. */
  datasource: z.string().min(1).max(4096).refine(noControl, CONTROL_MESSAGE),
});

export const registerWorkerBody = z.strictObject({
  name: name.default("Default"),
  labels: z.array(label).max(64).default([]),
});

export const createConfigBody = z.strictObject({
  worker_config: configSection,
  selection_config: configSection,
  lightly_config: configSection,
});

export const createTagBody = z.strictObject({ name: z.string().max(200) });

export const scheduleBody = z.strictObject({
  /** An existing config, or the three sections inline (then a config is created). */
  config_id: z.string().max(200).refine(noControl, CONTROL_MESSAGE).optional(),
  worker_config: configSection,
  selection_config: configSection,
  lightly_config: configSection,
  priority: z.enum(PRIORITIES).default("MID"),
  runs_on: z.array(label).max(64).default([]),
});

export const claimBody = z.strictObject({
  /** How long to wait for a run before answering 204 (long-poll), milliseconds. */
  wait_ms: z.number().int().min(0).max(60_000).default(20_000),
});

export const runUpdateBody = z.strictObject({
  state: z.enum(RUN_STATES).optional(),
  /** Longer than 10,000 characters: stored cut, with "… [truncated, N characters]" (never refused). */
  message: z.string().optional(),
  progress: z.record(z.string(), z.unknown()).nullable().optional(),
  checkpoint_source: z.string().max(4096).nullable().optional(),
});

export const logBody = z.strictObject({
  /** At most 1000 lines per batch; a line over 10,000 characters is stored cut with a marker. */
  lines: z.array(z.string()).max(1000),
});

export const signedUrlBody = z.strictObject({
  /** Seconds the URL stays valid (default one hour, at most seven days). */
  expires_in: z.number().int().min(1).max(7 * 24 * 3600).default(3600),
});

/** GET /v1/runs: optional page (numbers arrive as query strings). */
export const runsQuery = z.object({
  dataset_id: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(10_000).optional(),
  offset: z.coerce.number().int().min(0).optional(),
  order: z.enum(["asc", "desc"]).default("asc"),
});

export const artifactTypeQuery = z.enum(ARTIFACT_TYPES);
export const scheduledStateQuery = z.enum(SCHEDULED_STATES);

export const BODY_SCHEMAS = {
  CreateDataset: createDatasetBody,
  RegisterWorker: registerWorkerBody,
  CreateConfig: createConfigBody,
  ScheduleRun: scheduleBody,
  CreateTag: createTagBody,
  Claim: claimBody,
  RunUpdate: runUpdateBody,
  LogLines: logBody,
  SignedUrlRequest: signedUrlBody,
} as const;

/** Path parameters (the router gives strings; the schemas type them for the handlers). */
export const idParams = z.object({ id: z.string() });
export const artifactParams = z.object({ id: z.string(), name: z.string() });
export const signedArtifactParams = z.object({ artifactId: z.string() });

/** GET /v1/datasets: optionally the datasets of one name (a repeated name filters nothing, as always). */
export const datasetsQuery = z.object({ name: z.string().optional().catch(undefined) });
/** GET …/scheduled-runs: optionally of one state (an empty state: all). Query values judged one at a time name no `field`. */
export const scheduledRunsQuery = unnamedQuery(z.object({ state: z.preprocess((v) => (v === "" ? undefined : v), scheduledStateQuery.optional()) }));
/** GET /v1/runs/:id/log: lines after this index (missing or not a number: from the start). */
export const logQuery = z.object({ after: z.coerce.number().refine(Number.isFinite).catch(-1) });
/** PUT …/artifacts/:name: the artifact's type. */
export const artifactUploadQuery = unnamedQuery(z.object({ type: artifactTypeQuery.default("OTHER") }));
