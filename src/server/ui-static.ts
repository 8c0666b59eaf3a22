// Serves the built web UI (web/dist, made by `npm run build:web`) under /ui/: files by name inside
// that folder only, index.html for every other /ui/ path (the app routes in the browser). These
// routes are public (marked `config.public`): the page holds no data, and every API call it makes
// carries the token the user signs in with.
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyPluginAsync, FastifyReply } from "fastify";
import { resolveInside, PathRefused } from "../data/folder.js";
import { HttpError } from "./http-error.js";

/** web/dist of this checkout (src/server → ../../web/dist). */
export const DEFAULT_WEB_DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../web/dist");

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon", ".json": "application/json", ".map": "application/json",
  ".woff2": "font/woff2", ".txt": "text/plain; charset=utf-8",
};

// No inline scripts, nothing from other origins; blob: for thumbnails fetched with the token.
const CSP = "default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

const UI_PATH = /^[A-Za-z0-9_.\-/]*$/;

export const uiStaticRoutes: FastifyPluginAsync<{ distDir?: string }> = async (app, { distDir = DEFAULT_WEB_DIST }) => {
  const pub = { config: { public: true } };
  let root: string | null = null;
  const realRoot = (): string | null => {
    if (!root && fs.existsSync(path.join(distDir, "index.html"))) root = fs.realpathSync(distDir);
    return root;
  };

  async function send(reply: FastifyReply, file: string, immutable: boolean): Promise<FastifyReply> {
    const st = await fs.promises.stat(file);
    reply.header("content-type", TYPES[path.extname(file).toLowerCase()] ?? "application/octet-stream");
    reply.header("content-length", String(st.size));
    reply.header("cache-control", immutable ? "public, max-age=31536000, immutable" : "no-cache");
    reply.header("x-content-type-options", "nosniff");
    if (file.endsWith(".html")) {
      reply.header("content-security-policy", CSP);
      reply.header("referrer-policy", "no-referrer");
    }
    return reply.send(fs.createReadStream(file));
  }

  // Browsers ask for /favicon.ico on every page, without a token: the UI's icon, public.
  app.get("/favicon.ico", pub, async (_req, reply) => reply.redirect("/ui/favicon.svg", 301));
  app.get("/", pub, async (_req, reply) => reply.redirect("/ui/", 302));
  app.get("/ui", pub, async (_req, reply) => reply.redirect("/ui/", 302));
  app.get("/ui/*", pub, async (req, reply) => {
    const r = realRoot();
    if (!r) {
      return reply.code(503).type("text/plain; charset=utf-8").send(`the web UI is not built: run \`npm run build:web\` (expected ${path.join(distDir, "index.html")})\n`);
    }
    // The router has already percent-decoded the path (decoding again turned "/ui/%25" into a
    // URIError, a 500). The app's pages and built files are named with ids and these characters
    // only; anything else is no page of the app.
    const rel = (req.params as { "*": string })["*"] ?? "";
    if (!UI_PATH.test(rel)) throw new HttpError(404, `no page or file ${JSON.stringify(rel)} in the web UI`);
    if (rel) {
      try {
        const abs = resolveInside(r, rel);
        const st = await fs.promises.lstat(abs).catch(() => null);
        if (st?.isFile()) return send(reply, abs, rel.startsWith("assets/"));
      } catch (e) {
        if (!(e instanceof PathRefused)) throw e;
      }
      // A missing asset is a 404, not the app (a stale page must not get HTML for its script).
      if (rel.startsWith("assets/")) throw new HttpError(404, `asset ${JSON.stringify(rel)} not found`);
    }
    return send(reply, path.join(r, "index.html"), false);
  });
};
