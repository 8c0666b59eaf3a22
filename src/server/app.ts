// The HTTP API (fastify): one plugin per resource (routes/), each route validated by its zod schema
// (validation.ts; the OpenAPI document is generated from the same schemas), one error handler
// (error-handler.ts). Every route under /v1 needs `Authorization: Bearer <token>` except the health
// check and signed artifact URLs (their HMAC is the authorization); /openapi.json is public.
// Records of another token's owner answer 404 exactly as ids that do not exist.
import { EventEmitter } from "node:events";
import * as fs from "node:fs";
import Fastify, { type FastifyInstance, type FastifyReply } from "fastify";
import { TagStore } from "../db/tags.js";
import type { AppOptions } from "./app-options.js";
import { errorAnswer, installErrorHandler } from "./error-handler.js";
import { openApiDocument } from "./openapi.js";
import { installRequestGuards } from "./request-guards.js";
import { RouteContext } from "./route-context.js";
import { artifactRoutes } from "./routes/artifacts.js";
import { workerRoutes } from "./routes/claims.js";
import { datasetRoutes } from "./routes/datasets.js";
import { runRoutes } from "./routes/runs.js";
import { schedulingRoutes } from "./routes/scheduling.js";
import { handlerBudgetMs, SERVER_TIMEOUTS } from "./time-budgets.js";
import { uiApiRoutes } from "./ui-api.js";
import { uiStaticRoutes } from "./ui-static.js";
import { zodValidatorCompiler } from "./validation.js";

export type { AppOptions } from "./app-options.js";
export { HttpError } from "./http-error.js";

/** A route as registered; `body` is its body schema (the OpenAPI test checks it is the documented one). */
export interface RegisteredRoute {
  method: string;
  url: string;
  body?: unknown;
}

export function buildApp(o: AppOptions): { app: FastifyInstance; wake: EventEmitter; routes: RegisteredRoute[] } {
  const app = Fastify({
    logger: o.logger ?? false,
    bodyLimit: o.bodyLimit ?? 1 << 20,
    // Artifact names may be 200 characters (checkArtifactName answers 400 past that, naming the field).
    routerOptions: { maxParamLength: 256 },
    ...SERVER_TIMEOUTS,
    // The router's own refusals (a path that does not percent-decode, an over-long parameter) in
    // the API's error shape.
    frameworkErrors: (err, _req, reply: FastifyReply) => {
      const a = errorAnswer(err.statusCode ? err : Object.assign(err, { statusCode: 400 }));
      void reply.code(a.status).send(a.body);
    },
  });
  // Each route's handler budget (time-budgets.ts); past it fastify answers 503.
  app.addHook("onRoute", (r) => {
    r.handlerTimeout ??= handlerBudgetMs(r.url ?? r.path ?? "");
  });
  // Every route as registered (the OpenAPI test checks each /v1 route is documented).
  const routes: RegisteredRoute[] = [];
  app.addHook("onRoute", (r) => {
    for (const m of [r.method].flat()) if (m !== "HEAD") routes.push({ method: m, url: r.url, body: r.schema?.body });
  });
  app.setValidatorCompiler(zodValidatorCompiler);
  installErrorHandler(app);
  installRequestGuards(app, o.store);

  const wake = new EventEmitter();
  wake.setMaxListeners(0);
  const realRoot = fs.realpathSync(o.datasourceRoot);
  const ctx = new RouteContext(o, o.store, o.storage, new TagStore(o.store.db), realRoot, wake);

  app.get("/openapi.json", async () => openApiDocument());
  app.get("/v1/health", async () => ({ ok: true }));
  for (const plugin of [datasetRoutes, workerRoutes, schedulingRoutes, runRoutes, artifactRoutes]) void app.register(plugin, { ctx });
  void app.register(uiApiRoutes, { store: o.store, storage: o.storage, datasourceRoot: realRoot, ...o.ui });
  void app.register(uiStaticRoutes, { distDir: o.uiDist });
  return { app, wake, routes };
}
