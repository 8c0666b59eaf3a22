// Load on the service API over loopback: N clients each polling a run's info (what
// computeWorkerRunInfoGenerator does: GET the scheduled run, then GET its run; once per
// --interval ms, default 1 s) for --duration seconds, against SQLite with one server and against
// PostgreSQL with two server processes (clients split between them); then claiming throughput
// with --claim-workers workers racing through the API over --claims scheduled runs (every claim
// checked to be unique). --warmup seconds (default 5) of polling come first and are not counted.
// Latency is per poll (both requests), measured in this process, whose own
// event loop is part of what is measured: client, servers and PostgreSQL share the machine.
//
//   node --import tsx bench/service-load.ts [--clients 1000] [--duration 30] [--interval 1000]
//        [--claims 2000] [--claim-workers 20] [--backends sqlite,postgres] [--pg-servers 2] [--pg-url postgres://…]
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { openDb } from "../src/db/driver.js";
import { migrate } from "../src/db/migrations.js";
import { Store } from "../src/db/store.js";
import { startPostgres, type PgCluster } from "../test/helpers/postgres.js";

const args = process.argv.slice(2);
const opt = (name: string, def: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : def;
};
const CLIENTS = Number(opt("clients", "1000"));
const DURATION_S = Number(opt("duration", "30"));
const INTERVAL_MS = Number(opt("interval", "1000"));
const CLAIMS = Number(opt("claims", "2000"));
const CLAIM_WORKERS = Number(opt("claim-workers", "20"));
const BACKENDS = opt("backends", "sqlite,postgres").split(",");
const PG_SERVERS = Number(opt("pg-servers", "2"));
const WARMUP_S = Number(opt("warmup", "5"));

const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS + CLAIM_WORKERS + 10 });

function request(base: string, method: string, p: string, token: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const u = new URL(base + p);
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request({
      host: u.hostname, port: u.port, path: u.pathname + u.search, method, agent,
      headers: { authorization: `Bearer ${token}`, ...(data ? { "content-type": "application/json", "content-length": String(data.length) } : {}), ...headers },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : null });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(data);
  });
}

function startServer(database: string, storage: string, env: Record<string, string> = {}): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawn(process.execPath, ["--import", "tsx", "test/helpers/service-proc.ts", "serve",
    JSON.stringify({ database, storage, datasourceRoot: os.tmpdir(), port: 0, heartbeatTimeoutMs: 3600_000 })], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, ...env } });
  return new Promise((resolve, reject) => {
    proc.stdout!.on("data", (b) => {
      const m = /listening (\S+)/.exec(String(b));
      if (m) resolve({ proc, url: m[1]! });
    });
    proc.on("exit", (c) => reject(new Error(`server exited ${c}`)));
  });
}

const pct = (xs: number[], p: number): number => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function pollLoad(urls: string[], token: string, scheduled: string[]) {
  const lat: number[] = [];
  /** p99 per 10-s window, to tell a warm-up or a stall from a steady tail. */
  const windows: number[][] = [];
  let errors = 0;
  let requests = 0;
  const t0 = performance.now();
  const warmEnd = t0 + WARMUP_S * 1000;
  const end = warmEnd + DURATION_S * 1000;
  await Promise.all(Array.from({ length: CLIENTS }, async (_, i) => {
    const base = urls[i % urls.length]!;
    const sid = scheduled[i % scheduled.length]!;
    // Spread the clients' first polls over one interval, as independent users would be.
    let next = t0 + Math.random() * INTERVAL_MS;
    while (next < end) {
      await sleep(Math.max(0, next - performance.now()));
      const s = performance.now();
      try {
        const a = await request(base, "GET", `/v1/scheduled-runs/${sid}`, token);
        const b = a.status === 200 && a.json.run_id ? await request(base, "GET", `/v1/runs/${a.json.run_id}`, token) : a;
        if (a.status !== 200 || b.status !== 200) errors++;
        else if (s >= warmEnd) {
          const ms = performance.now() - s;
          lat.push(ms);
          (windows[Math.floor((s - warmEnd) / 10_000)] ??= []).push(ms);
        }
        if (s >= warmEnd) requests += a === b ? 1 : 2;
      } catch {
        errors++;
      }
      next += INTERVAL_MS;
    }
  }));
  lat.sort((x, y) => x - y);
  const windowP99 = windows.map((w) => pct(w.sort((x, y) => x - y), 99));
  return { polls: lat.length, pollsPerS: lat.length / DURATION_S, requestsPerS: requests / DURATION_S, p50: pct(lat, 50), p90: pct(lat, 90), p99: pct(lat, 99), max: lat[lat.length - 1] ?? NaN, errors, windowP99 };
}

async function claimLoad(urls: string[], token: string, workerIds: string[]) {
  const got: string[] = [];
  const lat: number[] = [];
  const t0 = performance.now();
  await Promise.all(workerIds.map(async (w, i) => {
    const base = urls[i % urls.length]!;
    for (let n = 0; n < CLAIMS + 1; n++) {
      const s = performance.now();
      const r = await request(base, "POST", `/v1/workers/${w}/claim`, token, { wait_ms: 0 });
      if (r.status === 204) return;
      if (r.status !== 200) throw new Error(`claim answered ${r.status}: ${JSON.stringify(r.json)}`);
      lat.push(performance.now() - s);
      got.push(r.json.run.scheduled_id);
    }
  }));
  const secs = (performance.now() - t0) / 1000;
  lat.sort((x, y) => x - y);
  const unique = new Set(got).size;
  if (unique !== got.length || got.length !== CLAIMS) throw new Error(`claims: ${got.length} answered, ${unique} unique, ${CLAIMS} scheduled`);
  return { claims: got.length, claimsPerS: got.length / secs, p50: pct(lat, 50), p99: pct(lat, 99) };
}

async function bench(backend: string) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "winnow-bench-load-"));
  let pg: PgCluster | null = null;
  let database: string;
  if (backend === "sqlite") database = path.join(dir, "w.db");
  else {
    const given = opt("pg-url", "");
    if (given) database = given;
    else {
      pg = await startPostgres();
      database = await pg.createDatabase("bench");
    }
  }
  const db = await openDb(database);
  await migrate(db);
  const store = new Store(db);
  const tok = await store.createToken("bench");
  const ds = await store.createDataset(tok.owner, `bench-${Date.now()}`, ".");
  const cfg = await store.createConfig(tok.owner, { worker_config: {}, selection_config: { n_samples: 2 }, lightly_config: {} });
  // The polled runs: scheduled and claimed (so each poll is the two requests of a running run).
  const holder = await store.registerWorker(tok.owner, "holder", ["poll"]);
  const scheduled: string[] = [];
  for (let i = 0; i < Math.min(CLIENTS, 1000); i++) scheduled.push((await store.schedule(tok.owner, ds.id, cfg.id, "MID", ["poll"])).id);
  while (await store.claim(tok.owner, holder));
  for (let i = 0; i < CLAIMS; i++) await store.schedule(tok.owner, ds.id, cfg.id, (["LOW", "MID", "HIGH"] as const)[i % 3], []);
  const claimers: string[] = [];
  for (let i = 0; i < CLAIM_WORKERS; i++) claimers.push((await store.registerWorker(tok.owner, `w${i}`, [])).id);
  // A database in steady state has planner statistics; a freshly filled one gets them from
  // autovacuum a minute later, mid-measurement. --no-analyze leaves that to autovacuum.
  if (db.dialect === "postgres" && !args.includes("--no-analyze")) await db.run("VACUUM ANALYZE");
  await db.close();

  const servers = await Promise.all(Array.from({ length: backend === "sqlite" ? 1 : PG_SERVERS }).map(() => startServer(database, path.join(dir, "art"))));
  const urls = servers.map((s) => s.url);
  try {
    const load = uptimeLoad();
    const poll = await pollLoad(urls, tok.token, scheduled);
    const claim = await claimLoad(urls, tok.token, claimers);
    return { backend, servers: urls.length, loadBefore: load, poll, claim };
  } finally {
    for (const s of servers) s.proc.kill("SIGTERM");
    await sleep(500);
    await pg?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const uptimeLoad = (): string => os.loadavg().map((x) => x.toFixed(2)).join(" ");
const f = (x: number): string => x.toFixed(1);

console.log(`# service load: ${CLIENTS} clients polling every ${INTERVAL_MS} ms for ${DURATION_S} s; claims: ${CLAIM_WORKERS} workers over ${CLAIMS} runs`);
console.log(`# ${os.cpus().length} × ${os.cpus()[0]?.model}, node ${process.version}, load ${uptimeLoad()}`);
const results = [];
for (const b of BACKENDS) {
  const r = await bench(b);
  results.push(r);
  console.log(`| ${r.backend} | ${r.servers} | ${f(r.poll.pollsPerS)} | ${f(r.poll.requestsPerS)} | ${f(r.poll.p50)} | ${f(r.poll.p99)} | ${f(r.poll.max)} | ${r.poll.errors} | ${r.poll.windowP99.map(f).join(" / ")} | ${f(r.claim.claimsPerS)} | ${f(r.claim.p50)} / ${f(r.claim.p99)} | ${r.loadBefore} |`);
}
console.log(JSON.stringify(results));
agent.destroy();
