// The OpenAPI document (/openapi.json) is hand-listed next to the routes: every registered /v1 route
// must appear in it with its method, and every documented route must exist.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { openDb } from "../src/db/driver.js";
import { migrate } from "../src/db/migrations.js";
import { Store } from "../src/db/store.js";
import { buildApp } from "../src/server/app.js";
import { LocalStorage } from "../src/server/storage.js";
import { documentedRoutes, openApiDocument } from "../src/server/openapi.js";

test("every registered API route is in the OpenAPI document, and every documented route is registered", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "winnow-openapi-"));
  const db = await openDb(path.join(dir, "db.sqlite"));
  await migrate(db);
  const { app, routes } = buildApp({
    store: new Store(db), storage: new LocalStorage(path.join(dir, "artifacts")), signingSecret: "s".repeat(64),
    datasourceRoot: dir, publicUrl: () => "http://127.0.0.1:1",
  });
  await app.ready();
  const key = (r: { method: string; url: string }): string => `${r.method} ${r.url}`;
  const api = routes.filter((r) => r.url.startsWith("/v1/") || r.url === "/openapi.json").map(key).sort();
  const documented = documentedRoutes().map(key).sort();
  assert.ok(api.length >= 30, `routes seen: ${api.length}`);
  assert.deepEqual(api.filter((r) => !documented.includes(r)), [], "registered but not documented");
  assert.deepEqual(documented.filter((r) => !api.includes(r)), [], "documented but not registered");
  // The document itself has a path item per documented path.
  const paths = Object.keys((openApiDocument() as { paths: Record<string, unknown> }).paths);
  assert.equal(paths.length, new Set(documentedRoutes().map((r) => r.url)).size);
  await app.close();
  await db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});
