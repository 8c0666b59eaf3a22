// The embedding map's metadata end to end without a browser: a tiny `winnow run` over a folder with
// Lightly's .lightly/metadata writes data/map_metadata.json (every schema field, the lightly.* value
// the selection computed, the file sizes; rows named like embeddings.csv's), the worker uploads it as
// MAP_METADATA, and the service serves it to the run's owner only.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { run, type RunResult } from "../src/run/index.js";
import { readEmbeddingsCsv } from "../src/run/embeddings-csv.js";
import type { MapMetadata } from "../src/run/map-metadata.js";
import { artifactsOfRun } from "../src/worker/artifacts.js";
import { openDb } from "../src/db/driver.js";
import { migrate } from "../src/db/migrations.js";
import { Store } from "../src/db/store.js";
import { buildApp } from "../src/server/app.js";
import { LocalStorage } from "../src/server/storage.js";
import { tempDir } from "./helpers/data-images.js";
import { privateHome, tinyConfig, tinyFolder } from "./helpers/run-setup.js";

let root: string;
let names: string[];
let result: RunResult;
let out: string;

before(async () => {
  privateHome();
  ({ root, names } = await tinyFolder(8));
  const md = path.join(root, ".lightly", "metadata");
  fs.mkdirSync(md, { recursive: true });
  fs.writeFileSync(path.join(md, "schema.json"), JSON.stringify([
    { name: "Temperature", path: "weather.temp", valueDataType: "NUMERIC_FLOAT", defaultValue: null },
    { name: "Scene", path: "scene", valueDataType: "CATEGORICAL_STRING", defaultValue: null },
  ]));
  // Every image but the last has a metadata file.
  names.slice(0, -1).forEach((f, k) => {
    fs.mkdirSync(path.dirname(path.join(md, f)), { recursive: true });
    fs.writeFileSync(path.join(md, f.replace(/\.png$/, ".json")), JSON.stringify({ file_name: f, type: "image", metadata: { weather: { temp: k + 0.5 }, scene: k % 2 ? "city" : "field" } }));
  });
  out = path.join(tempDir("winnow-map-md-out-"), "r");
  result = await run({
    input: root, output: out, stream: null,
    config: tinyConfig({ selection_config: { n_samples: 3, strategies: [{ input: { type: "EMBEDDINGS" }, strategy: { type: "DIVERSITY" } }, { input: { type: "METADATA", key: "lightly.sharpness" }, strategy: { type: "WEIGHTS" } }] } }),
  });
});

after(() => fs.rmSync(root, { recursive: true, force: true }));

test("a run writes the map's metadata: schema fields, the selection's lightly.* values, file sizes; rows as embeddings.csv", () => {
  const md = JSON.parse(fs.readFileSync(path.join(out, "data", "map_metadata.json"), "utf8")) as MapMetadata;
  const emb = readEmbeddingsCsv(path.join(out, "data", "embeddings.csv"), "embeddings.csv");
  assert.deepEqual(md.filenames, emb.filenames);
  assert.deepEqual(md.fields.map((f) => [f.key, f.kind]), [["weather.temp", "numeric"], ["scene", "categorical"], ["lightly.sharpness", "numeric"], ["lightly.sizeInBytes", "numeric"]]);
  const col = (k: string): (number | string | null)[] => md.fields.find((f) => f.key === k)!.values;
  md.filenames.forEach((f, i) => {
    const k = names.indexOf(f);
    assert.ok(k >= 0, `${f} is one of the folder's images`);
    assert.equal(col("weather.temp")[i], k === names.length - 1 ? null : k + 0.5, f);
    assert.equal(col("scene")[i], k === names.length - 1 ? null : k % 2 ? "city" : "field", f);
    assert.equal(col("lightly.sizeInBytes")[i], fs.statSync(path.join(root, f)).size, f);
    assert.equal(typeof col("lightly.sharpness")[i], "number", f);
  });
  const arts = artifactsOfRun(out, result.record as never, {});
  assert.deepEqual(arts.filter((a) => a.type === "MAP_METADATA").map((a) => [a.name, a.file]), [["map_metadata.json", path.join(out, "data", "map_metadata.json")]]);
});

test("the service serves a run's MAP_METADATA to its owner only", async () => {
  const dir = tempDir("winnow-map-md-srv-");
  const db = await openDb(path.join(dir, "w.db"));
  await migrate(db);
  const store = new Store(db);
  const owner = (await store.createToken("owner")).token;
  const other = (await store.createToken("other")).token;
  fs.mkdirSync(path.join(dir, "imgs"));
  const { app } = buildApp({ store, storage: new LocalStorage(path.join(dir, "art")), datasourceRoot: dir, signingSecret: "00", publicUrl: () => "" });
  const call = (tok: string | null, method: "GET" | "POST" | "PUT", u: string, payload?: unknown, headers: Record<string, string> = {}) =>
    app.inject({ method, url: u, payload: payload as string, headers: { ...(tok ? { authorization: `Bearer ${tok}` } : {}), ...headers } });
  try {
    const ds = (await call(owner, "POST", "/v1/datasets", { name: "m", datasource: "imgs" })).json().id;
    await call(owner, "POST", `/v1/datasets/${ds}/scheduled-runs`, { selection_config: { n_samples: 1 } });
    const wid = (await call(owner, "POST", "/v1/workers", { name: "w" })).json().id;
    const runId = (await call(owner, "POST", `/v1/workers/${wid}/claim`, { wait_ms: 0 })).json().run.id;
    assert.equal((await call(owner, "GET", `/v1/runs/${runId}/map-metadata`)).statusCode, 404, "no artifact yet");
    const bytes = fs.readFileSync(path.join(out, "data", "map_metadata.json"));
    const put = await call(owner, "PUT", `/v1/runs/${runId}/artifacts/map_metadata.json?type=MAP_METADATA`, bytes, { "content-type": "application/octet-stream", "x-winnow-worker": wid });
    assert.equal(put.statusCode, 201, put.body);
    const mine = await call(owner, "GET", `/v1/runs/${runId}/map-metadata`);
    assert.equal(mine.statusCode, 200, mine.body);
    assert.match(String(mine.headers["content-type"]), /^application\/json/);
    assert.deepEqual(mine.json(), JSON.parse(bytes.toString("utf8")));
    const theirs = await call(other, "GET", `/v1/runs/${runId}/map-metadata`);
    assert.equal(theirs.statusCode, 404, "another owner does not learn the run exists");
    assert.doesNotMatch(theirs.body, /weather/);
    assert.equal((await call(null, "GET", `/v1/runs/${runId}/map-metadata`)).statusCode, 401);
  } finally {
    await app.close();
    await db.close();
  }
});
