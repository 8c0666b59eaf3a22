// What every request passes before its route: JSON bodies parsed with a nesting bound, no control
// characters in params or query values, and the token check (public routes excepted).
import type { FastifyInstance } from "fastify";
import type { Principal, Store } from "../db/store.js";
import { HttpError } from "./http-error.js";
import { jsonDepthExceeded, MAX_JSON_DEPTH } from "./json-depth.js";
import { CONTROL_CHARS } from "./schemas.js";

declare module "fastify" {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

/** Paths answered without a token; signed artifact URLs carry their own HMAC instead. */
const PUBLIC = new Set(["/openapi.json", "/v1/health"]);

export function installRequestGuards(app: FastifyInstance, store: Store): void {
  // JSON bodies: nesting depth checked on the raw text before parsing (json-depth.ts), then
  // fastify's own parser (which refuses __proto__/constructor poisoning).
  const parseJson = app.getDefaultJsonParser("error", "error");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (req, body, done) => {
    const at = jsonDepthExceeded(body as string);
    if (at >= 0) return done(new HttpError(400, `body: JSON nested deeper than ${MAX_JSON_DEPTH} levels (at character ${at})`, "body"), undefined);
    return parseJson(req, body as string, done);
  });
  // Artifact bodies are streamed to storage as they arrive, never buffered.
  app.addContentTypeParser("application/octet-stream", (_req, payload, done) => done(null, payload));

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

  app.decorateRequest("principal", null);
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
}
