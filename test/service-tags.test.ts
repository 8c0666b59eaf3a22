// Tags through the service and the client, on both backends: a COMPLETED run's selection is a tag
// named after the run, users add names (createComputeWorkerRunTag), getComputeWorkerRunTags lists
// them, SIMILARITY's tag_name resolves by name at schedule time (unknown tags and missing metadata
// refused at once, with the config path) and the claim hands the worker the tag's filenames.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { serve, type RunningServer } from "../src/server/serve.js";
import { openDb } from "../src/db/driver.js";
import { migrate } from "../src/db/migrations.js";
import { Store } from "../src/db/store.js";
import { ApiWorkflowClient, ApiConflictError, ApiValidationError, ApiNotFoundError } from "../src/client/index.js";
import { tempDir } from "./helpers/data-images.js";
import { BACKENDS, artifactStorage, freshDatabase, type BackendName } from "./helpers/service-backend.js";

function suite(backend: BackendName): void {
  let dir: string;
  let srv: RunningServer;
  let token: string;
  let client: ApiWorkflowClient;
  let other: ApiWorkflowClient;

  before(async () => {
    dir = tempDir("winnow-service-tags-");
    const database = await freshDatabase(backend, dir);
    fs.mkdirSync(path.join(dir, "root", "imgs"), { recursive: true });
    const db = await openDb(database);
    await migrate(db);
    const st = new Store(db);
    token = (await st.createToken("me")).token;
    const o = await st.createToken("other");
    await db.close();
    const spec = await artifactStorage(backend, dir, `tags-${process.pid}`);
    srv = await serve({ database, storage: spec, datasourceRoot: path.join(dir, "root"), port: 0, heartbeatTimeoutMs: 60_000 });
    client = new ApiWorkflowClient({ url: srv.url, token });
    other = new ApiWorkflowClient({ url: srv.url, token: o.token });
  });
  after(async () => srv.close());

  async function api(method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
    const h: Record<string, string> = { authorization: `Bearer ${token}`, ...headers };
    let data: string | undefined;
    if (typeof body === "string") data = body;
    else if (body !== undefined) (h["content-type"] = "application/json"), (data = JSON.stringify(body));
    const res = await fetch(srv.url + p, { method, headers: h, body: data });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : null };
  }

  /** Claims the next run as `workerId`, uploads a selection, ends it in `state`; answers the claim. */
  async function playWorker(workerId: string, state: string, selected: string[]): Promise<any> {
    const c = await api("POST", `/v1/workers/${workerId}/claim`, { wait_ms: 0 });
    assert.equal(c.status, 200);
    const runId = c.json.run.id as string;
    const up = await api("PUT", `/v1/runs/${runId}/artifacts/selected_filenames.txt?type=SELECTED_FILENAMES`, `${selected.join("\n")}\n`, { "content-type": "application/octet-stream", "x-winnow-worker": workerId });
    assert.equal(up.status, 201);
    assert.equal((await api("PATCH", `/v1/runs/${runId}`, { state }, { "x-winnow-worker": workerId })).status, 200);
    return c.json;
  }

  test("tags round-trip: run id tag, given names, SIMILARITY by tag, refusals at schedule time", async () => {
    await client.createDataset("tags", "imgs");
    const w = await client.registerComputeWorker("tagger", ["tags"]);
    await client.scheduleComputeWorkerRun({ selectionConfig: { n_samples: 2 }, runsOn: ["tags"] });
    const first = await playWorker(w, "COMPLETED", ["a.png", "sub/b.png"]);
    const runId = first.run.id as string;

    assert.deepEqual((await client.getComputeWorkerRunTags(runId)).map((t) => [t.name, t.user_given]), [[runId, false]]);
    const made = await client.createComputeWorkerRunTag(runId, "first picks");
    assert.equal(made.name, "first picks");
    await assert.rejects(client.createComputeWorkerRunTag(runId, "first picks"), ApiConflictError);
    await assert.rejects(client.createComputeWorkerRunTag(runId, "-x"), (e: unknown) => e instanceof ApiValidationError && /not a tag name/.test((e as Error).message));
    await assert.rejects(other.createComputeWorkerRunTag(runId, "theirs"), ApiNotFoundError);
    assert.deepEqual((await client.getComputeWorkerRunTags(runId)).map((t) => [t.name, t.user_given]), [[runId, false], ["first picks", true]]);

    // SIMILARITY by the given name and by the run id: accepted, and the claim carries the filenames.
    for (const tag of ["first picks", runId]) {
      await client.scheduleComputeWorkerRun({ selectionConfig: { n_samples: 1, strategies: [{ input: { type: "EMBEDDINGS", tag_name: tag }, strategy: { type: "SIMILARITY" } }] }, runsOn: ["tags"] });
      const c = await playWorker(w, "FAILED", []);
      assert.equal(c.tags[tag].run_id, runId);
      const body = await (await fetch(c.tags[tag].url)).text();
      assert.deepEqual(body.split("\n").filter(Boolean), ["a.png", "sub/b.png"]);
    }
    // A FAILED run's selection is no tag.
    const failed = (await client.getComputeWorkerRuns()).find((r) => r.state === "FAILED")!;
    await assert.rejects(client.createComputeWorkerRunTag(failed.id, "nope nope"), ApiConflictError);
    assert.deepEqual(await client.getComputeWorkerRunTags(failed.id), []);

    // Refused at once, naming the config path: an unknown tag, metadata the datasource does not have.
    const refused = async (sel: object, re: RegExp) =>
      assert.rejects(client.scheduleComputeWorkerRun({ selectionConfig: sel as never }), (e: unknown) => e instanceof ApiValidationError && re.test((e as Error).message));
    await refused({ n_samples: 1, strategies: [{ input: { type: "EMBEDDINGS", tag_name: "no such tag" }, strategy: { type: "SIMILARITY" } }] },
      /selection_config\.strategies\[0\]\.input\.tag_name: no tag "no such tag"/);
    await refused({ n_samples: 1, strategies: [{ input: { type: "METADATA", key: "weather" }, strategy: { type: "BALANCE", distribution: "UNIFORM" } }] },
      /selection_config\.strategies\[0\]\.input\.key: metadata "weather" needs Lightly's metadata folder/);
    await refused({ n_samples: 1, strategies: [{ input: { type: "SCORES", task: "det", score: "s" }, strategy: { type: "WEIGHTS" } }] },
      /selection_config\.strategies\[0\]\.input\.task: task "det" needs predictions/);
    // with the metadata in place the same config is accepted
    fs.mkdirSync(path.join(dir, "root", "imgs", ".lightly", "metadata"), { recursive: true });
    fs.writeFileSync(path.join(dir, "root", "imgs", ".lightly", "metadata", "schema.json"), JSON.stringify([{ name: "w", path: "weather", valueDataType: "CATEGORICAL_STRING" }]));
    await client.scheduleComputeWorkerRun({ selectionConfig: { n_samples: 1, strategies: [{ input: { type: "METADATA", key: "weather" }, strategy: { type: "BALANCE", distribution: "UNIFORM" } }] } });
    // dataset tags listing, and a dataset deletion takes its tags along
    const ds = (await client.getDatasetsByName("tags"))[0]!.id;
    assert.deepEqual((await api("GET", `/v1/datasets/${ds}/tags`)).json.map((t: { name: string }) => t.name), ["first picks"]);
    assert.deepEqual((await client.getDatasetTags(ds)).map((t) => [t.name, t.run_id]), [["first picks", runId]]);
    await assert.rejects(other.getDatasetTags(ds), ApiNotFoundError);
    for (const s of await client.getScheduledComputeWorkerRuns("OPEN")) await client.cancelScheduledComputeWorkerRun(s.id);
    await client.deleteDatasetById(ds);
  });
}

for (const backend of BACKENDS) describe(`service tags on ${backend}`, () => suite(backend));
