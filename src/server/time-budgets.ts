// Every request has a time budget (docs/service.md, "Time budgets"): the HTTP server's own
// timeouts bound a connection and the receiving of a request, and each route's handler has a
// budget (fastify's handlerTimeout; past it the answer is 503). Heavy handlers have tighter
// budgets of their own inside (embedding map, thumbnails: ui-api.ts).

/** Artifact uploads and downloads stream up to 8 GiB: an hour (≈ 2.3 MB/s for the largest). */
export const TRANSFER_MS = 3600_000;
/** The claim long-poll waits up to 60 s (claimBody.wait_ms) before answering. */
export const CLAIM_MS = 90_000;
/** Every other route: database work, small files, the bounded heavy routes. */
export const DEFAULT_HANDLER_MS = 60_000;

export const SERVER_TIMEOUTS = {
  /** A socket idle this long is closed (above the claim's 60 s of silence). */
  connectionTimeout: 120_000,
  /** Receiving one whole request (headers and body). */
  requestTimeout: TRANSFER_MS,
} as const;

const TRANSFER_ROUTES = new Set(["/v1/runs/:id/artifacts/:name", "/v1/signed/artifacts/:artifactId"]);

/** The handler budget of the route registered at `url` (ms). */
export function handlerBudgetMs(url: string): number {
  if (TRANSFER_ROUTES.has(url)) return TRANSFER_MS;
  if (url === "/v1/workers/:id/claim") return CLAIM_MS;
  return DEFAULT_HANDLER_MS;
}
