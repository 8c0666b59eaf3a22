// The rank launcher (src/distributed/launch.ts) and the rank plan (rank-plan.ts): torchrun's
// environment per rank; a rank that fails makes the launcher stop the others after the grace
// period; trainer.gpus / num_processes / flags / torchrun's environment decide the ranks.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { launchRanks, planRanks, threadsPerRank, describeFailure } from "../src/distributed/index.js";

const node = (code: string): string[] => [process.execPath, "-e", code];
const collect = (stream: NodeJS.ReadableStream | null, out: string[]): void => void stream?.on("data", (d: Buffer) => out.push(d.toString()));

test("each local rank gets torchrun's environment (node 1 of 2, 2 ranks per node)", { timeout: 30_000 }, async () => {
  const outs: string[][] = [[], []];
  const env = "console.log(JSON.stringify(['RANK','WORLD_SIZE','LOCAL_RANK','LOCAL_WORLD_SIZE','GROUP_RANK','MASTER_ADDR','MASTER_PORT'].map((k) => process.env[k])))";
  const r = await launchRanks({
    nprocPerNode: 2, nnodes: 2, nodeRank: 1, masterAddr: "10.0.0.1", masterPort: 29511, command: node(env), stdio: "pipe",
    onStart: (lr, c) => collect(c.stdout, outs[lr]!),
  });
  assert.equal(r.ok, true);
  assert.deepEqual(outs.map((o) => JSON.parse(o.join(""))), [
    ["2", "4", "0", "2", "1", "10.0.0.1", "29511"],
    ["3", "4", "1", "2", "1", "10.0.0.1", "29511"],
  ]);
  assert.deepEqual(r.exits.map((e) => [e.rank, e.code]), [[2, 0], [3, 0]]);
});

test("a rank that exits with an error: the launcher kills the others after the grace period and says who failed", { timeout: 30_000 }, async () => {
  const t0 = performance.now();
  const r = await launchRanks({
    nprocPerNode: 3, masterAddr: "127.0.0.1", masterPort: 29512, graceMs: 300, notify: null, stdio: "pipe",
    // rank 1 fails after 200 ms; ranks 0 and 2 would run for a minute
    command: node("setTimeout(() => process.exit(process.env.RANK === '1' ? 3 : 0), process.env.RANK === '1' ? 200 : 60000)"),
  });
  const ms = performance.now() - t0;
  assert.equal(r.ok, false);
  assert.deepEqual(r.firstFailure && [r.firstFailure.rank, r.firstFailure.code], [1, 3]);
  assert.deepEqual(r.exits.map((e) => [e.rank, e.killed, e.signal]), [[0, true, "SIGKILL"], [1, false, null], [2, true, "SIGKILL"]]);
  assert.ok(ms < 10_000, `took ${ms} ms`);
  assert.match(describeFailure(r.firstFailure!), /^rank 1 \(local rank 1\) exited with code 3; the other ranks were stopped$/);
});

test("the other ranks are told at once with SIGUSR2 (Winnow's rank 0 then fails its run after the step)", { timeout: 30_000 }, async () => {
  const t0 = performance.now();
  const dir = mkdtempSync(path.join(tmpdir(), "winnow-launch-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const r = await launchRanks({
    nprocPerNode: 2, masterAddr: "127.0.0.1", masterPort: 29514, graceMs: 20_000, stdio: "pipe",
    // rank 0 says when its handler is in place (a file); rank 1 then fails
    env: { ...process.env, READY: path.join(dir, "ready") },
    command: node(
      "const fs = require('fs'); if (process.env.RANK === '0') { process.on('SIGUSR2', () => process.exit(7)); fs.writeFileSync(process.env.READY, ''); setTimeout(() => {}, 60000); }" +
        " else setInterval(() => fs.existsSync(process.env.READY) && process.exit(9), 20);",
    ),
  });
  assert.deepEqual(r.exits.map((e) => [e.code, e.killed]), [[7, false], [9, false]]);
  assert.ok(performance.now() - t0 < 15_000, "well before the grace period ends");
});

test("ranks that exit on their own within the grace period are not killed", { timeout: 30_000 }, async () => {
  const r = await launchRanks({
    nprocPerNode: 2, masterAddr: "127.0.0.1", masterPort: 29513, graceMs: 20_000, notify: null, stdio: "pipe",
    command: node("setTimeout(() => process.exit(process.env.RANK === '0' ? 1 : 2), process.env.RANK === '0' ? 100 : 400)"),
  });
  assert.deepEqual(r.exits.map((e) => [e.code, e.killed]), [[1, false], [2, false]]);
  assert.equal(r.firstFailure?.rank, 0);
});

test("the rank plan: trainer.gpus, num_processes, flags, torchrun's environment; threads split over local ranks", () => {
  const base = { flags: {}, gpus: 0, numProcesses: 1, cudaDevices: 0, numThreads: -1, env: {}, cores: 16 };
  assert.deepEqual(planRanks(base), { kind: "single" });
  assert.deepEqual(planRanks({ ...base, gpus: 4 }), { kind: "single" }, "no CUDA: one CPU rank, as before");
  const gpu = planRanks({ ...base, gpus: 4, cudaDevices: 8 });
  assert.deepEqual(gpu, { kind: "launch", nprocPerNode: 4, nnodes: 1, nodeRank: 0, masterAddr: "127.0.0.1", masterPort: 0, onGpus: true, threadsPerRank: 4 });
  assert.throws(() => planRanks({ ...base, gpus: 4, cudaDevices: 2 }), /trainer\.gpus is 4, but this machine has 2 CUDA device/);
  const cpu = planRanks({ ...base, numProcesses: 3 });
  assert.equal(cpu.kind === "launch" && cpu.nprocPerNode, 3);
  assert.equal(cpu.kind === "launch" && cpu.threadsPerRank, 5);
  const flags = planRanks({ ...base, numProcesses: 3, flags: { nprocPerNode: 2, nnodes: 2, nodeRank: 1, masterAddr: "node0" } });
  assert.deepEqual(flags, { kind: "launch", nprocPerNode: 2, nnodes: 2, nodeRank: 1, masterAddr: "node0", masterPort: 29500, onGpus: false, threadsPerRank: 8 });
  assert.throws(() => planRanks({ ...base, flags: { nnodes: 2 } }), /--nnodes 2: give --master-addr/);
  assert.throws(() => planRanks({ ...base, flags: { nnodes: 2, nodeRank: 2, masterAddr: "x" } }), /--node-rank must be in 0\.\.1/);
  const env = { WORLD_SIZE: "4", RANK: "3", LOCAL_RANK: "1", LOCAL_WORLD_SIZE: "2", MASTER_ADDR: "node0", MASTER_PORT: "29500" };
  assert.deepEqual(planRanks({ ...base, gpus: 2, cudaDevices: 2, env }), {
    kind: "rank", rendezvous: { rank: 3, worldSize: 4, localRank: 1, masterAddr: "node0", masterPort: 29500 }, localWorldSize: 2, device: "cuda:1", threadsPerRank: 8,
  });
  const cpuRank = planRanks({ ...base, numThreads: 2, env });
  assert.equal(cpuRank.kind === "rank" && cpuRank.device, "cpu");
  assert.equal(cpuRank.kind === "rank" && cpuRank.threadsPerRank, 2, "worker_config.num_threads wins");
  assert.throws(() => planRanks({ ...base, gpus: 1, cudaDevices: 1, env }), /LOCAL_RANK 1 has no CUDA device/);
  assert.deepEqual(planRanks({ ...base, env: { WORLD_SIZE: "1", RANK: "0", MASTER_ADDR: "a", MASTER_PORT: "1" } }), { kind: "single" });
  assert.equal(threadsPerRank(-1, 3, 2), 1, "at least one thread");
});
