// The API from the browser: every call carries the token the user signed in with, kept in
// sessionStorage only (gone when the tab closes). Errors keep the server's status and message.
import type { ArtifactData, DatasetData, EmbeddingMap, Priority, QueuedRunSummary, RunData, RunState, RunSummary, ScheduledRunData, WorkerSummary } from "../../src/db/records.ts";
import type { LiveProgress } from "../../src/run/live-progress.ts";
import type { TagData } from "../../src/db/records.ts";

export type { TagData };
export type { ArtifactData, DatasetData, EmbeddingMap, LiveProgress, QueuedRunSummary, RunData, RunState, RunSummary, ScheduledRunData, Priority, WorkerSummary };

const KEY = "winnow.token";
export const getToken = (): string | null => sessionStorage.getItem(KEY);
export const setToken = (t: string): void => sessionStorage.setItem(KEY, t);
export const clearToken = (): void => sessionStorage.removeItem(KEY);

export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly field: string | null = null) {
    super(message);
  }
}

/** Called on every 401 (the app drops the token and shows the sign-in page). */
let onUnauthorized: (msg: string) => void = () => {};
export const setUnauthorizedHandler = (f: (msg: string) => void): void => void (onUnauthorized = f);

async function request(method: string, path: string, body?: unknown, token = getToken()): Promise<Response> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!res.ok) {
    let message = `${method} ${path}: HTTP ${res.status}`;
    let field: string | null = null;
    try {
      const b = (await res.json()) as { message?: string; field?: string };
      if (b.message) message = b.message;
      field = b.field ?? null;
    } catch {
      /* not JSON */
    }
    if (res.status === 401) onUnauthorized(message);
    throw new ApiError(res.status, message, field);
  }
  return res;
}

/** Text of a route (the HTML report). */
export async function apiText(path: string): Promise<string> {
  return (await request("GET", path)).text();
}

/** Cancels a scheduled run: a queued one at once; a running one is aborted by its worker (ends ABORTED). */
export const cancelScheduled = (scheduledId: string): Promise<unknown> => api("POST", `/v1/scheduled-runs/${encodeURIComponent(scheduledId)}/cancel`);

export async function api<T>(method: string, path: string, body?: unknown, token?: string): Promise<T> {
  const res = await request(method, path, body, token);
  return (res.status === 204 ? null : await res.json()) as T;
}

/** An authorized image (thumbnails need the token, which an <img src> cannot send) as a blob: URL. */
export async function blobUrl(path: string): Promise<string> {
  const res = await request("GET", path);
  return URL.createObjectURL(await res.blob());
}



/** A run's tags (its own id once COMPLETED, then the names given to its selection); a dataset's given names. */
export const runTags = (runId: string): Promise<TagData[]> => api("GET", `/v1/runs/${encodeURIComponent(runId)}/tags`);
export const datasetTags = (datasetId: string): Promise<TagData[]> => api("GET", `/v1/datasets/${encodeURIComponent(datasetId)}/tags`);
export const createRunTag = (runId: string, name: string): Promise<TagData> => api("POST", `/v1/runs/${encodeURIComponent(runId)}/tags`, { name });

export const thumbPath = (runId: string, file: string, size = 128): string =>
  `/v1/runs/${encodeURIComponent(runId)}/thumbnail?file=${encodeURIComponent(file)}&size=${size}`;

export const END_STATES: ReadonlySet<string> = new Set(["COMPLETED", "ABORTED", "FAILED", "CRASHED"]);

/** A signed, expiring URL of a run's artifact (no token needed to fetch it). */
export async function signedUrl(runId: string, fileName: string, expiresIn = 3600): Promise<string> {
  const r = await api<{ url: string }>("POST", `/v1/runs/${encodeURIComponent(runId)}/artifacts/${encodeURIComponent(fileName)}/signed-url`, { expires_in: expiresIn });
  return r.url;
}
