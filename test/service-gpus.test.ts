// GPUs in the service's claim (src/config/gpu-labels.ts): a run scheduled with trainer.gpus 4 needs
// the label gpus:4, which a worker carries when it has at least 4 GPUs (gpus:1 … gpus:N); runs
// asking for 0 or 1 GPU need none. Checked over the HTTP API on SQLite (the claim's SQL is the
// runs_on one, tested on PostgreSQL too in service-claims.test.ts).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { serve, type RunningServer } from "../src/server/serve.js";
import { openDb } from "../src/db/driver.js";
import { migrate } from "../src/db/migrations.js";
import { Store } from "../src/db/store.js";
import { ApiWorkflowClient } from "../src/client/index.js";
import { workerGpuLabels, runGpuLabels, gpusOfLabels } from "../src/config/gpu-labels.js";
import { tempDir } from "./helpers/data-images.js";

let dir: string;
let srv: RunningServer;
let client: ApiWorkflowClient;
let token: string;

before(async () => {
  dir = tempDir("winnow-service-gpus-");
  fs.mkdirSync(path.join(dir, "root", "imgs"), { recursive: true });
  const database = path.join(dir, "w.db");
  const db = await openDb(database);
  await migrate(db);
  const t = await new Store(db).createToken("gpus");
  await db.close();
  token = t.token;
  srv = await serve({ database, storage: path.join(dir, "art"), datasourceRoot: path.join(dir, "root"), port: 0, heartbeatTimeoutMs: 60_000 });
  client = new ApiWorkflowClient({ url: srv.url, token });
});
after(async () => {
  await srv.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function claim(workerId: string): Promise<string | null> {
  const res = await fetch(`${srv.url}/v1/workers/${workerId}/claim`, {
    method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ wait_ms: 0 }),
  });
  return res.status === 200 ? ((await res.json()) as { run: { scheduled_id: string } }).run.scheduled_id : null;
}

test("the labels: a worker with N GPUs, a run asking for N", () => {
  assert.deepEqual(workerGpuLabels(0), []);
  assert.deepEqual(workerGpuLabels(3), ["gpus:1", "gpus:2", "gpus:3"]);
  assert.deepEqual(runGpuLabels({ trainer: { gpus: 4 } }), ["gpus:4"]);
  assert.deepEqual(runGpuLabels({ trainer: { gpus: 1 } }), [], "one GPU (or the CPU fallback) runs anywhere");
  assert.deepEqual(runGpuLabels({}), []);
  assert.equal(gpusOfLabels(["cpu", ...workerGpuLabels(8)]), 8);
});

test("a run with trainer.gpus 4 is claimed only by a worker with at least 4 GPUs; a 1-GPU run by any", async () => {
  const dsId = await client.createDataset("gpus", "imgs");
  const four = await client.scheduleComputeWorkerRun({ selectionConfig: { n_samples: 2 }, lightlyConfig: { trainer: { gpus: 4 } }, priority: "HIGH" });
  const scheduled = await client.getScheduledComputeWorkerRuns();
  assert.deepEqual(scheduled.find((s) => s.id === four)?.runs_on, ["gpus:4"]);
  const cpu = await client.registerComputeWorker("cpu", workerGpuLabels(0));
  const two = await client.registerComputeWorker("two-gpus", workerGpuLabels(2));
  const eight = await client.registerComputeWorker("eight-gpus", workerGpuLabels(8));
  assert.equal(await claim(cpu), null, "no GPU");
  assert.equal(await claim(two), null, "2 GPUs < 4");
  assert.equal(await claim(eight), four);

  // A stored config (config_id) is judged the same way; one GPU needs no label.
  const cfg = await client.createComputeWorkerConfig({ selectionConfig: { n_samples: 2 }, lightlyConfig: { trainer: { gpus: 2 } } });
  const res = await fetch(`${srv.url}/v1/datasets/${dsId}/scheduled-runs`, {
    method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ config_id: cfg }),
  });
  assert.equal(res.status, 201);
  const viaId = ((await res.json()) as { id: string; runs_on: string[] }).id;
  const one = await client.scheduleComputeWorkerRun({ selectionConfig: { n_samples: 2 }, lightlyConfig: { trainer: { gpus: 1 } }, priority: "LOW" });
  assert.equal(await claim(cpu), one, "the 2-GPU run is not for a CPU worker; the 1-GPU run is");
  assert.equal(await claim(two), viaId);
  const workers = await client.getComputeWorkers();
  assert.equal(gpusOfLabels(workers.find((w) => w.id === eight)!.labels), 8, "the listing shows the worker's GPUs (its labels)");
  const summaries = await fetch(`${srv.url}/v1/worker-summaries`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.json()) as { items: { id: string; gpus: number }[] };
  assert.deepEqual([cpu, two, eight].map((id) => summaries.items.find((w) => w.id === id)?.gpus), [0, 2, 8], "the workers page's API gives the GPU count");
});
