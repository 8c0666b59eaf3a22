// Two server processes on one PostgreSQL database: a worker long-polling replica A claims a run
// scheduled through replica B at once (LISTEN/NOTIFY), not at A's next fallback poll (5 s while
// it listens); and after the LISTEN connections are killed, they reconnect and wake claims again.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { openDb, type Db } from "../src/db/driver.js";
import { migrate } from "../src/db/migrations.js";
import { Store } from "../src/db/store.js";
import { tempDir } from "./helpers/data-images.js";
import { freshDatabase } from "./helpers/service-backend.js";

const WAKE_BUDGET_MS = 500;

describe("PostgreSQL replicas: LISTEN/NOTIFY wakes claims across servers", () => {
  let dir: string;
  let db: Db;
  let token: string;
  let datasetId: string;
  const servers: { proc: ChildProcess; url: string }[] = [];

  async function startServer(database: string): Promise<void> {
    const proc = spawn(process.execPath, ["--import", "tsx", "test/helpers/service-proc.ts", "serve", JSON.stringify({
      database, storage: path.join(dir, "art"), datasourceRoot: path.join(dir, "root"), port: 0,
    })], { stdio: ["ignore", "pipe", "pipe"] });
    proc.stderr!.on("data", (b) => process.stderr.write(`[server ${servers.length}] ${b}`));
    const url = await new Promise<string>((resolve, reject) => {
      proc.stdout!.on("data", (b) => {
        const m = /listening (\S+)/.exec(String(b));
        if (m) resolve(m[1]!);
      });
      proc.on("exit", (c) => reject(new Error(`server exited ${c}`)));
    });
    servers.push({ proc, url });
  }

  async function api(server: number, method: string, p: string, body?: unknown): Promise<{ status: number; json: any }> {
    const res = await fetch(servers[server]!.url + p, {
      method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : null };
  }

  const listeners = async (): Promise<number[]> =>
    (await db.all<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE query = 'LISTEN winnow_scheduled'`)).map((r) => Number(r.pid));

  /** Ms from scheduling through B to the claim answer of a worker parked in a long poll on A. */
  async function wakeLatency(workerId: string): Promise<number> {
    const claim = api(0, "POST", `/v1/workers/${workerId}/claim`, { wait_ms: 15_000 });
    await new Promise((r) => setTimeout(r, 400)); // A has looked at the queue, found nothing, and waits
    const t0 = performance.now();
    const s = await api(1, "POST", `/v1/datasets/${datasetId}/scheduled-runs`, { selection_config: { n_samples: 2 } });
    assert.equal(s.status, 201);
    const t1 = performance.now();
    const c = await claim;
    const ms = performance.now() - t0;
    console.log(`  schedule request ${(t1 - t0).toFixed(1)} ms, then claim answered ${(performance.now() - t1).toFixed(1)} ms later`);
    assert.equal(c.status, 200);
    assert.equal(c.json.run.scheduled_id, s.json.id);
    return ms;
  }

  before(async () => {
    dir = tempDir("winnow-service-notify-");
    fs.mkdirSync(path.join(dir, "root", "imgs"), { recursive: true });
    const database = await freshDatabase("postgres", dir);
    db = await openDb(database);
    await migrate(db);
    const st = new Store(db);
    const t = await st.createToken("notify");
    token = t.token;
    datasetId = (await st.createDataset(t.owner, "notify", "imgs")).id;
    await startServer(database);
    await startServer(database);
  });
  after(async () => {
    for (const s of servers) s.proc.kill("SIGTERM");
    await db.close();
  });

  test(`a run scheduled through replica B is claimed by a worker long-polling replica A within ${WAKE_BUDGET_MS} ms; again after the LISTEN connections drop`, async () => {
    const first = await listeners();
    assert.equal(first.length, 2, "one LISTEN connection per server process");
    const w = await api(0, "POST", "/v1/workers", { name: "notify-w", labels: [] });
    // Warm-up (not counted): B's first schedule compiles the config schemas and prepares statements.
    await wakeLatency(w.json.id);
    const before = [];
    for (let i = 0; i < 5; i++) before.push(await wakeLatency(w.json.id));
    console.log(`schedule on B → claim answered on A: ${before.map((m) => m.toFixed(1)).join(", ")} ms`);
    for (const ms of before) assert.ok(ms < WAKE_BUDGET_MS, `${ms.toFixed(1)} ms ≥ ${WAKE_BUDGET_MS} ms: A was not woken by B's NOTIFY`);

    const killed = await db.all(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'LISTEN winnow_scheduled'`);
    assert.equal(killed.length, 2);
    const t0 = Date.now();
    // Back when two LISTEN connections other than the killed ones are up.
    while ((await listeners()).filter((pid) => !first.includes(pid)).length < 2) {
      assert.ok(Date.now() - t0 < 10_000, "the servers reconnect their LISTEN connections within 10 s");
      await new Promise((r) => setTimeout(r, 50));
    }
    console.log(`LISTEN connections back after ${Date.now() - t0} ms`);
    await new Promise((r) => setTimeout(r, 100));
    const again = [];
    for (let i = 0; i < 3; i++) again.push(await wakeLatency(w.json.id));
    console.log(`after reconnect: ${again.map((m) => m.toFixed(1)).join(", ")} ms`);
    for (const ms of again) assert.ok(ms < WAKE_BUDGET_MS, `${ms.toFixed(1)} ms ≥ ${WAKE_BUDGET_MS} ms after reconnect`);
  });
});
