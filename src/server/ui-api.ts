// API routes the web UI needs beyond Lightly's (all under /v1, behind the same token check, and
// answering 404 for another owner's records like the rest of the API): a paginated, filtered run
// list, a run's state timeline, loss curve, resolved config and 2-D embedding map, image thumbnails
// read from the dataset's datasource (re-encoded by sharp, never a path outside it), a dataset's
// datapool size, and config validation without scheduling.
import type { FastifyPluginAsync } from "fastify";
import type { Store } from "../db/store.js";
import type { EmbeddingMapPoolOptions } from "./embedding-map-pool.js";
import type { ArtifactStorage } from "./storage.js";
import { UiContext } from "./ui-context.js";
import { uiDatasetRoutes } from "./ui-datasets.js";
import { uiEmbeddingMapRoutes, uiThumbnailRoutes } from "./ui-images.js";
import { uiLiveRoutes } from "./ui-live.js";
import { uiRunDetailRoutes, uiRunSummaryRoutes } from "./ui-runs.js";

export { countLines } from "./ui-text.js";

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

/** The UI's routes, one plugin per view (runs, images, datasets, live workers and queue). */
export const uiApiRoutes: FastifyPluginAsync<UiApiOptions> = async (app, o) => {
  const ui = new UiContext(o.store, o.storage);
  await app.register(uiRunSummaryRoutes, { ui });
  await app.register(uiRunDetailRoutes, { ui });
  await app.register(uiEmbeddingMapRoutes, { ui, ...o });
  await app.register(uiThumbnailRoutes, { ui, ...o });
  await app.register(uiDatasetRoutes, { ui, datasourceRoot: o.datasourceRoot });
  await app.register(uiLiveRoutes, { store: o.store, workerTimeoutMs: o.workerTimeoutMs ?? 60_000 });
};
