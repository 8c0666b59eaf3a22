// HTTP edge cases and the API's access rules, as attacks against a real server process: deeply
// nested JSON, undecodable /ui/ paths, the 200-character artifact-name boundary, control characters
// in names and queries, a FIFO in a datasource (thumbnails), and the regression set of earlier
// findings: missing/wrong tokens, another owner's ids on every route, tampered and expired signed
// URLs, datasources outside the root, file names leaving the datasource. Two checks of the bounds
// run in-process (buildApp with small limits): a handler past its time budget, and the embedding
// map's request budget, size limit and broken-artifact answer.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import sharp from "sharp";
import { openDb } from "../src/db/driver.js";
import { migrate } from "../src/db/migrations.js";
import { Store } from "../src/db/store.js";
import { buildApp } from "../src/server/app.js";
import { LocalStorage } from "../src/server/storage.js";
import { tempDir } from "./helpers/data-images.js";
import { killStarted, startServerProcess } from "./helpers/server-process.js";
import type { ChildProcess } from "node:child_process";

let url: string;
let server: ChildProcess;
let dir: string;
let tokA: string;
let tokB: string;
/** Tenant A's records: a dataset, a worker holding a run, its scheduled run, config and artifacts. */
const A = { dataset: "", worker: "", run: "", scheduled: "", config: "" };

async function api(method: string, p: string, token: string | null, body?: unknown, headers: Record<string, string> = {}) {
  const h: Record<string, string> = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  if (body !== undefined && !h["content-type"]) h["content-type"] = "application/json";
  const res = await fetch(url + p, { method, headers: h, body: body === undefined ? undefined : typeof body === "string" || body instanceof Uint8Array ? (body as BodyInit) : JSON.stringify(body) });
  const text = await res.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, json, text, headers: res.headers };
}
const asWorker = { "content-type": "application/octet-stream" };

before(async () => {
  dir = tempDir("winnow-security-http-");
  const imgs = path.join(dir, "root", "imgs");
  fs.mkdirSync(imgs, { recursive: true });
  await sharp({ create: { width: 24, height: 16, channels: 3, background: { r: 200, g: 30, b: 30 } } }).png().toFile(path.join(imgs, "red.png"));
  execFileSync("mkfifo", [path.join(imgs, "pipe.png")]);
  fs.symlinkSync("/etc/passwd", path.join(imgs, "passwd.png"));
  fs.writeFileSync(path.join(dir, "secret.png"), "SECRET-CONTENT-OUTSIDE");
  const database = path.join(dir, "w.db");
  const db = await openDb(database);
  await migrate(db);
  const st = new Store(db);
  tokA = (await st.createToken("a")).token;
  tokB = (await st.createToken("b")).token;
  await db.close();
  ({ url, proc: server } = await startServerProcess({ database, storage: path.join(dir, "art"), datasourceRoot: path.join(dir, "root") }));

  A.dataset = (await api("POST", "/v1/datasets", tokA, { name: "a-data", datasource: "imgs" })).json.id;
  const s = (await api("POST", `/v1/datasets/${A.dataset}/scheduled-runs`, tokA, { selection_config: { n_samples: 1 } })).json;
  A.scheduled = s.id;
  A.config = s.config_id;
  A.worker = (await api("POST", "/v1/workers", tokA, { name: "a-worker" })).json.id;
  A.run = (await api("POST", `/v1/workers/${A.worker}/claim`, tokA, { wait_ms: 0 })).json.run.id;
  const up = await api("PUT", `/v1/runs/${A.run}/artifacts/checkpoint.ckpt?type=CHECKPOINT`, tokA, new Uint8Array([1, 2, 3]), { ...asWorker, "x-winnow-worker": A.worker });
  assert.equal(up.status, 201, up.text);
});
after(killStarted);

test("JSON nested deeper than 64 levels → 400 naming the body; 64 levels parse; the server keeps answering", async () => {
  const nest = (k: number): string => "[".repeat(k) + "]".repeat(k);
  for (const p of ["/v1/configs", `/v1/datasets/${A.dataset}/scheduled-runs`, "/v1/configs/validate", "/v1/datasets"]) {
    const r = await api("POST", p, tokA, `{"worker_config":{"x":${nest(100_000)}}}`);
    assert.equal(r.status, 400, `${p}: ${r.text.slice(0, 200)}`);
    assert.equal(r.json.field, "body");
    assert.match(r.json.message, /nested deeper than 64 levels/);
  }
  // Depth counts every array and object: 2 for {"worker_config":{…}} plus the arrays.
  const ok = await api("POST", "/v1/configs/validate", tokA, `{"worker_config":{"x":${nest(62)}}}`);
  assert.equal(ok.status, 200, ok.text.slice(0, 200));
  assert.equal((await api("POST", "/v1/configs/validate", tokA, `{"worker_config":{"x":${nest(63)}}}`)).status, 400);
  // Brackets inside strings are not nesting.
  const str = await api("POST", "/v1/configs/validate", tokA, JSON.stringify({ worker_config: { x: "[{".repeat(5000) + '\\"[' } }));
  assert.equal(str.status, 200, str.text.slice(0, 200));
  // Prototype poisoning is still refused by the parser behind the depth check.
  assert.equal((await api("POST", "/v1/configs/validate", tokA, '{"__proto__":{"x":1}}')).status, 400);
  assert.equal((await api("GET", "/v1/health", null)).status, 200);
});

test("/ui/ paths that do not decode or name no page → 4xx, never 500 or a file outside web/dist", async () => {
  const bad = await api("GET", "/ui/%E0%A4%A", null);
  assert.equal(bad.status, 400);
  assert.match(bad.json.message, /not a valid url component/);
  for (const p of ["/ui/%25", "/ui/%2525", "/ui/%00", "/ui/a%0Ab", "/ui/assets/%25.js"]) {
    const r = await api("GET", p, null);
    assert.ok(r.status >= 400 && r.status < 500, `${p}: ${r.status} ${r.text.slice(0, 120)}`);
  }
  for (const p of ["/ui/..%2F..%2F..%2Fetc%2Fpasswd", "/ui/%2Fetc%2Fpasswd", "/ui/assets/..%2F..%2F..%2Fpackage.json"]) {
    const r = await api("GET", p, null);
    assert.ok(!/root:|"dependencies"/.test(r.text), `${p} leaked a file`);
  }
});

test("artifact names: 200 characters accepted and served, 201 refused with field name (not 414)", async () => {
  const hdr = { ...asWorker, "x-winnow-worker": A.worker };
  const n200 = "a".repeat(196) + ".bin";
  const put = await api("PUT", `/v1/runs/${A.run}/artifacts/${n200}?type=OTHER`, tokA, new Uint8Array([7, 8, 9]), hdr);
  assert.equal(put.status, 201, put.text.slice(0, 200));
  const got = await fetch(`${url}/v1/runs/${A.run}/artifacts/${n200}`, { headers: { authorization: `Bearer ${tokA}` } });
  assert.equal(got.status, 200);
  assert.deepEqual([...new Uint8Array(await got.arrayBuffer())], [7, 8, 9]);
  const r = await api("PUT", `/v1/runs/${A.run}/artifacts/${"a".repeat(197)}.bin?type=OTHER`, tokA, new Uint8Array([1]), hdr);
  assert.equal(r.status, 400, r.text.slice(0, 200));
  assert.equal(r.json.field, "name");
  assert.match(r.json.message, /1–200 characters/);
});

test("control characters in names, labels, datasources, params and queries → 400 naming the field; nothing stored", async () => {
  const cases: [string, string, unknown, string][] = [
    ["POST", "/v1/datasets", { name: "evil\u0000name", datasource: "imgs" }, "name"],
    ["POST", "/v1/datasets", { name: "evil\nname", datasource: "imgs" }, "name"],
    ["POST", "/v1/datasets", { name: "ok-name", datasource: "im\u0000gs" }, "datasource"],
    ["POST", "/v1/workers", { name: "w\u0000", labels: [] }, "name"],
    ["POST", "/v1/workers", { name: "w", labels: ["gpu\u0000"] }, "labels.0"],
    ["POST", `/v1/datasets/${A.dataset}/scheduled-runs`, { selection_config: { n_samples: 1 }, runs_on: ["a\u0000b"] }, "runs_on.0"],
    ["POST", `/v1/datasets/${A.dataset}/scheduled-runs`, { config_id: "x\u0000y" }, "config_id"],
    ["GET", "/v1/scheduled-runs?state=OPEN%00", undefined, "query.state"],
    ["GET", `/v1/runs/${A.run}/thumbnail?file=red.png%00.png`, undefined, "query.file"],
    ["GET", `/v1/runs/${A.run}%00`, undefined, "params.id"],
  ];
  for (const [m, p, body, field] of cases) {
    const r = await api(m, p, tokA, body);
    assert.equal(r.status, 400, `${m} ${p}: ${r.status} ${r.text.slice(0, 200)}`);
    assert.equal(r.json.field, field, `${m} ${p}: ${r.text}`);
    // Labels have their own alphabet (which has no control characters); the rest say what is wrong.
    assert.match(r.json.message, field.endsWith(".0") ? /A-Z a-z 0-9/ : /control character/);
  }
  const put = await api("PUT", `/v1/runs/${A.run}/artifacts/a%00b?type=OTHER`, tokA, new Uint8Array([1]), { ...asWorker, "x-winnow-worker": A.worker });
  assert.equal(put.status, 400);
  const names = (await api("GET", "/v1/datasets", tokA)).json.map((d: { name: string }) => d.name);
  assert.deepEqual(names, ["a-data"]);
  assert.deepEqual((await api("GET", "/v1/workers", tokA)).json.map((w: { name: string }) => w.name), ["a-worker"]);
  assert.deepEqual((await api("GET", `/v1/runs/${A.run}/artifacts`, tokA)).json.some((a: { file_name: string }) => a.file_name.includes("\u0000")), false);
});

test("thumbnails: a FIFO answers 404 at once (also eight at a time) while a real image still answers; links and ../ give nothing", async () => {
  const thumb = (file: string) => api("GET", `/v1/runs/${A.run}/thumbnail?file=${encodeURIComponent(file)}&size=32`, tokA);
  const t0 = performance.now();
  const fifos = await Promise.all(Array.from({ length: 8 }, () => thumb("pipe.png")));
  const fifoMs = performance.now() - t0;
  for (const r of fifos) {
    assert.equal(r.status, 404, r.text);
    assert.match(r.json.message, /pipe\.png.*FIFO, not a regular file/);
  }
  const t1 = performance.now();
  const red = await fetch(`${url}/v1/runs/${A.run}/thumbnail?file=red.png&size=32`, { headers: { authorization: `Bearer ${tokA}` } });
  const redMs = performance.now() - t1;
  assert.equal(red.status, 200);
  assert.equal(red.headers.get("content-type"), "image/webp");
  const px = await sharp(Buffer.from(await red.arrayBuffer())).raw().toBuffer({ resolveWithObject: true });
  assert.equal(px.info.width, 32);
  assert.ok(px.data[0]! > 150 && px.data[1]! < 80, `the thumbnail is the red image (${px.data[0]},${px.data[1]})`);
  console.log(`# 8 FIFO thumbnails answered in ${fifoMs.toFixed(0)} ms; the image after them in ${redMs.toFixed(0)} ms`);
  assert.ok(fifoMs < 3000 && redMs < 3000, `FIFO ${fifoMs} ms, image ${redMs} ms`);
  for (const f of ["passwd.png", "../secret.png", "/etc/passwd", "imgs/../../secret.png"]) {
    const r = await thumb(f);
    assert.equal(r.status, 404, `${f}: ${r.status}`);
    assert.ok(!/root:|SECRET-CONTENT/.test(r.text), `${f}: file content in the answer`);
  }
});

test("regression: no token or a wrong one → 401 on every non-public route", async () => {
  const doc = (await api("GET", "/openapi.json", null)).json as { paths: Record<string, Record<string, unknown>> };
  let n = 0;
  for (const [p, ops] of Object.entries(doc.paths)) {
    if (p === "/openapi.json" || p === "/v1/health" || p.startsWith("/v1/signed/")) continue;
    const concrete = p.replace(/\{[^}]+\}/g, "x");
    for (const m of Object.keys(ops)) {
      for (const tok of [null, "wnw_not-a-token"]) {
        const r = await api(m.toUpperCase(), concrete, tok, m === "get" || m === "delete" ? undefined : {});
        assert.equal(r.status, 401, `${m} ${p} with ${tok ? "a wrong" : "no"} token: ${r.status}`);
        n++;
      }
    }
  }
  assert.ok(n >= 40, `${n} route checks`);
});

test("regression: tenant B gets 404 for tenant A's ids on every route, exactly like unknown ids", async () => {
  const doc = (await api("GET", "/openapi.json", null)).json as { paths: Record<string, Record<string, unknown>> };
  const idOf: [RegExp, string][] = [
    [/^\/v1\/datasets\/\{id\}/, A.dataset], [/^\/v1\/workers\/\{id\}/, A.worker], [/^\/v1\/runs\/\{id\}/, A.run],
    [/^\/v1\/scheduled-runs\/\{id\}/, A.scheduled], [/^\/v1\/configs\/\{id\}/, A.config], [/^\/v1\/run-summaries\/\{id\}/, A.run],
  ];
  let n = 0;
  for (const [p, ops] of Object.entries(doc.paths)) {
    if (!p.includes("{") || p.startsWith("/v1/signed/")) continue;
    const id = idOf.find(([re]) => re.test(p))?.[1];
    assert.ok(id, `the test knows which of A's ids fits ${p}`);
    const concrete = p.replace("{id}", id).replace("{name}", "checkpoint.ckpt");
    for (const m of Object.keys(ops)) {
      const body = m === "put" ? new Uint8Array([9]) : m === "get" || m === "delete" ? undefined : {};
      const hdr: Record<string, string> = m === "put" ? { ...asWorker, "x-winnow-worker": A.worker } : m === "patch" ? { "x-winnow-worker": A.worker } : {};
      const r = await api(m.toUpperCase(), concrete + (p.endsWith("/thumbnail") ? "?file=red.png" : ""), tokB, body, hdr);
      assert.equal(r.status, 404, `${m} ${concrete} as B: ${r.status} ${r.text.slice(0, 200)}`);
      n++;
    }
  }
  for (const p of [`/v1/runs?dataset_id=${A.dataset}`, `/v1/run-summaries?dataset_id=${A.dataset}`]) {
    assert.equal((await api("GET", p, tokB)).status, 404, p);
  }
  assert.ok(n >= 20, `${n} route checks`);
  // Nothing of A's changed: the worker is there, the run still held, the checkpoint the same bytes.
  assert.equal((await api("GET", "/v1/workers", tokA)).json.length >= 1, true);
  const run = (await api("GET", `/v1/runs/${A.run}`, tokA)).json;
  assert.equal(run.worker_id, A.worker);
  const ck = await fetch(`${url}/v1/runs/${A.run}/artifacts/checkpoint.ckpt`, { headers: { authorization: `Bearer ${tokA}` } });
  assert.deepEqual([...new Uint8Array(await ck.arrayBuffer())], [1, 2, 3]);
  assert.equal((await api("GET", `/v1/scheduled-runs/${A.scheduled}`, tokA)).json.cancel_requested ?? false, false);
});

test("regression: signed URLs — tampered signature, changed expiry, another artifact's id, or expired → 403", async () => {
  // The tampered variants come from a URL that lives long enough for a loaded machine; expiry has its own.
  const signed = (await api("POST", `/v1/runs/${A.run}/artifacts/checkpoint.ckpt/signed-url`, tokA, { expires_in: 120 })).json as { url: string };
  assert.equal((await fetch(signed.url)).status, 200);
  const short = (await api("POST", `/v1/runs/${A.run}/artifacts/checkpoint.ckpt/signed-url`, tokA, { expires_in: 1 })).json as { url: string };
  const u = new URL(signed.url);
  const sig = u.searchParams.get("signature")!;
  const variants = [
    signed.url.replace(`signature=${sig}`, `signature=${sig.slice(0, -1)}${sig.endsWith("0") ? "1" : "0"}`),
    signed.url.replace(/expires=\d+/, `expires=${Number(u.searchParams.get("expires")) + 3600}`),
    signed.url.replace(/artifacts\/[^?]+/, "artifacts/0123456789abcdef01234567"),
    signed.url.replace(/signature=[^&]+/, "signature="),
  ];
  for (const v of variants) {
    const r = await fetch(v);
    assert.equal(r.status, 403, v);
    assert.ok(!(await r.text()).includes("\u0001\u0002\u0003"));
  }
  await new Promise((r) => setTimeout(r, 2100));
  assert.equal((await fetch(signed.url)).status, 200, "the long-lived URL still works");
  const late = await fetch(short.url);
  assert.equal(late.status, 403);
  assert.match(((await late.json()) as { message: string }).message, /expired/);
});

test("regression: datasources with '..', absolute paths or control characters → 400 naming datasource", async () => {
  for (const ds of ["../outside", "/etc", "imgs/../../", "imgs/../..", "/", "..", "s3://bucket/../x"]) {
    const r = await api("POST", "/v1/datasets", tokA, { name: `bad-${ds}`, datasource: ds });
    assert.equal(r.status, 400, `${ds}: ${r.status} ${r.text}`);
    assert.equal(r.json.field, "datasource", ds);
  }
});

test("a handler past its time budget answers 503 with Retry-After (fastify's handlerTimeout through the API's error handler)", async () => {
  const root = tempDir("winnow-security-budget-");
  const { app } = buildApp({ store: {} as never, storage: new LocalStorage(root), datasourceRoot: root, signingSecret: "00", publicUrl: () => "" });
  let finished = false;
  app.get("/slow", { handlerTimeout: 150, config: { public: true } }, async () => {
    await new Promise((r) => setTimeout(r, 600));
    finished = true;
    return { late: true };
  });
  // The route plugins load at ready(): outside the timed request.
  await app.ready();
  const t0 = performance.now();
  const r = await app.inject("/slow");
  const ms = performance.now() - t0;
  assert.equal(r.statusCode, 503);
  assert.equal(r.headers["retry-after"], "5");
  assert.match(r.json().message, /timed out after 150 ms/);
  assert.ok(ms < 550 && !finished, `answered after ${ms.toFixed(0)} ms, before the handler finished`);
  await app.close();
});

test("UI route bounds: embedding map past the request budget → 503 while the map is computed for the retry, over the size limit → 413, a broken CSV → 422 naming the line; a thumbnail over the size limit → 413", async () => {
  const root = tempDir("winnow-security-map-");
  fs.mkdirSync(path.join(root, "imgs"));
  await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 9, g: 99, b: 199 } } }).png().toFile(path.join(root, "imgs", "big.png"));
  const db = await openDb(path.join(root, "w.db"));
  await migrate(db);
  const store = new Store(db);
  const tok = (await store.createToken("m")).token;
  // Two servers on one database: one whose requests wait 1 ms for a map, one with the default wait.
  const appWith = (requestBudgetMs?: number) => buildApp({
    store, storage: new LocalStorage(path.join(root, "art")), datasourceRoot: root, signingSecret: "00", publicUrl: () => "",
    ui: { embeddingMap: { maxBytes: 4096, requestBudgetMs }, thumbnails: { maxBytes: 100 } },
  }).app;
  const app = appWith(1);
  const patient = appWith();
  const call = (method: "GET" | "POST" | "PUT", u: string, payload?: unknown, headers: Record<string, string> = {}, on = app) =>
    on.inject({ method, url: u, payload: payload as string, headers: { authorization: `Bearer ${tok}`, ...headers } });
  try {
    const ds = (await call("POST", "/v1/datasets", { name: "m", datasource: "imgs" })).json().id;
    await call("POST", `/v1/datasets/${ds}/scheduled-runs`, { selection_config: { n_samples: 1 } });
    const wid = (await call("POST", "/v1/workers", { name: "w" })).json().id;
    const runId = (await call("POST", `/v1/workers/${wid}/claim`, { wait_ms: 0 })).json().run.id;
    const put = (body: string) => call("PUT", `/v1/runs/${runId}/artifacts/embeddings.csv?type=EMBEDDINGS`, body, { "content-type": "application/octet-stream", "x-winnow-worker": wid });
    assert.equal((await put("filenames,embedding_0,embedding_1,labels\r\na.png,1,2,0\r\nb.png,3,1,0\r\nc.png,0,5,0\r\n")).statusCode, 201);
    // A thread starts in far more than 1 ms: the first request is over its budget.
    const first = await call("GET", `/v1/runs/${runId}/embedding-map`);
    assert.equal(first.statusCode, 503, first.body);
    assert.ok(Number(first.headers["retry-after"]) > 0);
    assert.match(first.json().message, /budget/);
    let map: { n: number; xy: number[] } | null = null;
    for (let i = 0; i < 200 && !map; i++) {
      await new Promise((r) => setTimeout(r, 50));
      const r = await call("GET", `/v1/runs/${runId}/embedding-map`);
      if (r.statusCode === 200) map = r.json();
      else assert.equal(r.statusCode, 503, r.body);
    }
    assert.ok(map, "the computation went on and the retry got the cached map");
    assert.equal(map.n, 3);
    assert.equal(map.xy.length, 6);
    assert.equal((await put("filenames,embedding_0,labels\r\n" + "x.png,1,0\r\n".repeat(400))).statusCode, 201);
    const big = await call("GET", `/v1/runs/${runId}/embedding-map`, undefined, {}, patient);
    assert.equal(big.statusCode, 413);
    assert.match(big.json().message, /embeddings\.csv \(EMBEDDINGS\) is 4\d{3} bytes; the embedding map reads at most 4096/);
    assert.equal((await put("filenames,embedding_0,labels\r\na.png,1,0\r\nb.png,oops,0\r\n")).statusCode, 201);
    const broken = await call("GET", `/v1/runs/${runId}/embedding-map`, undefined, {}, patient);
    assert.equal(broken.statusCode, 422, broken.body);
    assert.match(broken.json().message, /embeddings\.csv.*line 3/);
    const thumb = await call("GET", `/v1/runs/${runId}/thumbnail?file=big.png`);
    assert.equal(thumb.statusCode, 413, thumb.body);
    assert.match(thumb.json().message, /"big\.png" is \d+ bytes; at most 100 are read/);
  } finally {
    await app.close();
    await patient.close();
    await db.close();
  }
});
