// One error mapping: WinnowError codes → HTTP statuses in one table (error-handler.ts), the body the
// API has always answered (error, message, field) plus the code, and the client's typed errors
// carrying that code. Route schemas (zod) validate and type the request; records another owner holds
// answer 404 before the body is judged.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { openDb } from "../src/db/driver.js";
import { migrate } from "../src/db/migrations.js";
import { ConflictError, Store } from "../src/db/store.js";
import { buildApp } from "../src/server/app.js";
import { errorAnswer, HTTP_STATUS_OF_CODE } from "../src/server/error-handler.js";
import { HttpError } from "../src/server/http-error.js";
import { Busy } from "../src/server/bounded-work.js";
import { MapFailed } from "../src/server/embedding-map-pool.js";
import { FileTooLarge } from "../src/server/regular-file.js";
import { LocalStorage, StorageFull, TooLarge } from "../src/server/storage.js";
import { ApiHttp } from "../src/client/http.js";
import { ApiConflictError, ApiNotFoundError, ApiValidationError, apiError } from "../src/client/errors.js";
import { WinnowError } from "../src/util/errors.js";
import { documentedBody } from "../src/server/openapi.js";
import { tempDir } from "./helpers/data-images.js";

test("the error table: each server error class answers its status and code; others keep fastify's 4xx or become 500", () => {
  const cases: [Error, number, string | undefined][] = [
    [new ConflictError("name taken"), 409, "conflict"],
    [new StorageFull("ENOSPC"), 507, "storage_full"],
    [new TooLarge(10), 413, "too_large"],
    [new FileTooLarge("a.png", 20, 10), 413, "too_large"],
    [new Busy("full"), 503, "busy"],
    [new MapFailed("bad CSV", 422), 422, "invalid_input"],
    [new HttpError(400, "body.name: bad", "name"), 400, "invalid_input"],
    [new WinnowError("forbidden", "outside the root"), 403, "forbidden"],
    [Object.assign(new Error("too big"), { code: "FST_ERR_CTP_BODY_TOO_LARGE", statusCode: 413 }), 413, undefined],
    [Object.assign(new Error("bad json"), { statusCode: 400 }), 400, undefined],
    [new Error("boom"), 500, undefined],
  ];
  for (const [err, status, code] of cases) {
    const a = errorAnswer(err);
    assert.equal(a.status, status, err.message);
    assert.equal(a.body.error, status);
    assert.equal(a.body.code, code, err.message);
  }
  assert.equal(errorAnswer(new Error("boom")).body.message, "internal error: boom");
  assert.equal(errorAnswer(new HttpError(400, "body.name: bad", "name")).body.field, "name");
  assert.equal(errorAnswer(new Busy("full", 7)).retryAfterSec, 7);
  assert.equal(new StorageFull("EDQUOT").systemCode, "EDQUOT");
  assert.match(new StorageFull("EDQUOT").message, /EDQUOT/);
  // Every code has a status; the client's statuses map back to the same codes.
  for (const [code, status] of Object.entries(HTTP_STATUS_OF_CODE)) assert.ok(status >= 400 && status < 600, code);
  for (const code of ["invalid_input", "unauthorized", "forbidden", "not_found", "conflict", "too_large", "busy", "storage_full"] as const) {
    assert.equal(apiError(HTTP_STATUS_OF_CODE[code], "m", null, "GET", "/x").code, code);
  }
});

test("answers through a real server: route schemas refuse naming the field, 404 before the body for another owner's run, the client carries the code", async () => {
  const dir = tempDir("winnow-error-mapping-");
  fs.mkdirSync(path.join(dir, "imgs"));
  const db = await openDb(path.join(dir, "w.db"));
  await migrate(db);
  const store = new Store(db);
  const tokA = (await store.createToken("a")).token;
  const tokB = (await store.createToken("b")).token;
  const { app } = buildApp({ store, storage: new LocalStorage(path.join(dir, "art")), datasourceRoot: dir, signingSecret: "00", publicUrl: () => "" });
  const call = (tok: string, method: "GET" | "POST", url: string, payload?: unknown) =>
    app.inject({ method, url, payload: payload as object, headers: { authorization: `Bearer ${tok}` } });
  try {
    const bad = await call(tokA, "POST", "/v1/datasets", { name: "", datasource: "imgs" });
    assert.equal(bad.statusCode, 400);
    assert.deepEqual(Object.keys(bad.json()).sort(), ["code", "error", "field", "message"]);
    assert.equal(bad.json().field, "name");
    assert.match(bad.json().message, /^body\.name: /);
    assert.equal(bad.json().code, "invalid_input");
    // Defaults of the schema reach the handler (labels: []).
    const w = await call(tokA, "POST", "/v1/workers", { name: "w" });
    assert.equal(w.statusCode, 201, w.body);
    assert.deepEqual(w.json().labels, []);
    // A query value judged alone names itself in the message, without a field (as the API always did).
    const st = await call(tokA, "GET", "/v1/scheduled-runs?state=NOPE");
    assert.equal(st.statusCode, 400);
    assert.match(st.json().message, /^query\.state: /);
    assert.equal(st.json().field, undefined);
    const ds = (await call(tokA, "POST", "/v1/datasets", { name: "d", datasource: "imgs" })).json();
    await call(tokA, "POST", `/v1/datasets/${ds.id}/scheduled-runs`, { selection_config: { n_samples: 1 } });
    const run = (await call(tokA, "POST", `/v1/workers/${w.json().id}/claim`, { wait_ms: 0 })).json().run;
    // B's tag with an invalid body on A's run: 404 (the run is judged first), as for an unknown id.
    for (const id of [run.id, "no-such-run"]) {
      const r = await call(tokB, "POST", `/v1/runs/${id}/tags`, { bogus: 1 });
      assert.equal(r.statusCode, 404, r.body);
      assert.equal(r.json().code, "not_found");
    }
    assert.equal((await call(tokA, "POST", `/v1/runs/${run.id}/tags`, { bogus: 1 })).statusCode, 400);

    await app.listen({ host: "127.0.0.1", port: 0 });
    const { port } = app.server.address() as { port: number };
    const http = new ApiHttp({ url: `http://127.0.0.1:${port}`, token: tokA });
    const nf = await http.json("GET", "/v1/datasets/nope").catch((e: unknown) => e);
    assert.ok(nf instanceof ApiNotFoundError && nf instanceof WinnowError);
    assert.equal(nf.code, "not_found");
    const inv = await http.json("POST", "/v1/datasets", { name: "x", datasource: "../out" }).catch((e: unknown) => e);
    assert.ok(inv instanceof ApiValidationError);
    assert.equal(inv.code, "invalid_input");
    assert.equal(inv.field, "datasource");
    assert.equal(inv.where, "datasource");
    const dup = await http.json("POST", "/v1/datasets", { name: "d", datasource: "imgs" }).catch((e: unknown) => e);
    assert.ok(dup instanceof ApiConflictError);
    assert.equal(dup.code, "conflict");
  } finally {
    await app.close();
    await db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("one source: every route validates its body with exactly the schema the OpenAPI document names", async () => {
  const dir = tempDir("winnow-route-schemas-");
  const { app, routes } = buildApp({ store: {} as never, storage: new LocalStorage(dir), datasourceRoot: dir, signingSecret: "00", publicUrl: () => "" });
  await app.ready();
  const withBody = routes.filter((r) => r.url.startsWith("/v1/") && (r.body !== undefined || documentedBody(r.method, r.url) !== undefined));
  assert.ok(withBody.length >= 9, `${withBody.length} routes with a body schema`);
  for (const r of withBody) assert.equal(r.body, documentedBody(r.method, r.url), `${r.method} ${r.url}`);
  await app.close();
  fs.rmSync(dir, { recursive: true, force: true });
});
