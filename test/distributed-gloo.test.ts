// c10d over Gloo with 2 CPU ranks on loopback (each rank its own Node process): collective results,
// gradient averaging against PyTorch's own DistributedDataParallel (real torch.distributed, Gloo),
// and a dead or hung peer turning into an error within the timeout.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as torch from "../src/torch/index.js";
import { initProcessGroup, liveProcessGroups, DistributedError } from "../src/distributed/index.js";
import { freePort, startNodeRanks, startRank } from "./helpers/dist-spawn.js";
import { PYTHON } from "./helpers/oracle.js";

const ORACLE = join(dirname(fileURLToPath(import.meta.url)), "helpers", "py", "ddp_oracle.py");

test("collectives on 2 ranks: allreduce, bucket, max, broadcast, allgather, gatherWithGrad; nothing leaks", { timeout: 120_000 }, async () => {
  // Gloo bound through GLOO_SOCKET_IFNAME here (as torch reads it); the other tests bind 127.0.0.1.
  const ranks = await startNodeRanks("collectives", 2, { GLOO_SOCKET_IFNAME: "lo" });
  const out = await Promise.all(ranks.map((r) => r.line((o) => "allreduce" in o)));
  assert.deepEqual(await Promise.all(ranks.map((r) => r.exit)), [0, 0], ranks.map((r) => r.stderr).join("\n"));
  for (const [rank, o] of out.entries()) {
    assert.equal(o.rank, rank);
    assert.deepEqual(o.allreduce, [3, 30, -1]); // [1,10,0] + [2,20,-1]
    assert.deepEqual(o.max, [1, 0]);
    assert.deepEqual(o.bucket, [[3, 3, 3, 3], [100]]);
    assert.deepEqual(o.broadcast, [1, 1, 1]); // from rank 1
    assert.deepEqual(o.allgather, [[0, 0.5], [1, 1.5]]);
    assert.deepEqual(o.allgatherT, [[0, 0, 0, 0], [1, 3, 2, 4]]); // t() of [[r,2r],[3r,4r]], gathered by value
    assert.deepEqual(o.allgatherCat, [[2, 2], [1, 2, 2, 3]]); // [[1],[2]] | [[2],[3]] along dim 1
    assert.equal(o.afterDestroy, "process group used after destroy()");
    assert.deepEqual(o.gatherShape, [4, 2]);
    assert.deepEqual(o.gatherValues, [1, 2, 3, 4, 2, 3, 4, 5]);
    // d/dx_r of sum_s sum(gathered * w_s), w_s = arange(8).reshape(4,2) + 10 s: rows of rank r, summed over s.
    const rows = [0, 1, 2, 3].map((k) => k + 4 * rank);
    assert.deepEqual(o.xGrad, rows.map((v) => 2 * v + 10));
    assert.equal(o.leaked, 0, "live tensors after the scenario");
    assert.equal(o.groups, 0, "process groups after destroy()");
  }
});

test("2-rank gradient averaging matches PyTorch DistributedDataParallel (Gloo) and the single-process run", { timeout: 180_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "winnow-ddp-"));
  try {
    // The spec: weights for rank 0 (rank 1 starts from other random weights in both engines), 3 steps of data.
    const steps = 3;
    const batch = 8;
    const spec = torch.scope(() => {
      torch.manualSeed(7);
      const w = (shape: number[]) => ({ shape, values: Array.from(torch.randn(shape).mul(0.5).data() as Float32Array) });
      const data = (cols: number) => Array.from({ length: steps }, () => Array.from(torch.randn([batch, cols]).data() as Float32Array));
      // A 1 kB bucket cap: the 4 parameters travel in more than one bucket.
      return { weights: { "fc1.weight": w([8, 4]), "fc1.bias": w([8]), "fc2.weight": w([3, 8]), "fc2.bias": w([3]) }, x: data(4), y: data(3), steps, batch, lr: 0.1, momentum: 0.9, bucketCapMB: 1 / 1024 };
    });
    const specPath = join(dir, "spec.json");
    writeFileSync(specPath, JSON.stringify(spec));

    const ours = await startNodeRanks("ddp", 2, { DIST_SPEC: specPath });
    const mine = await Promise.all(ours.map((r) => r.line((o) => "weights" in o)));
    assert.deepEqual(await Promise.all(ours.map((r) => r.exit)), [0, 0], ours.map((r) => r.stderr).join("\n"));

    const port = await freePort();
    const outPath = join(dir, "torch.json");
    const py = [0, 1].map((rank) =>
      startRank(PYTHON, [ORACLE, specPath, outPath], {
        WORLD_SIZE: "2", RANK: String(rank), MASTER_ADDR: "127.0.0.1", MASTER_PORT: String(port), GLOO_SOCKET_IFNAME: "lo",
      }),
    );
    assert.deepEqual(await Promise.all(py.map((r) => r.exit)), [0, 0], py.map((r) => r.stderr).join("\n"));
    const ref = JSON.parse(readFileSync(outPath, "utf8"));

    const maxDiff = (a: number[], b: number[]) => Math.max(...a.map((x, i) => Math.abs(x - b[i])));
    const worst = (ref: Record<string, number[]>) => Math.max(...Object.keys(ref).map((k) => maxDiff(mine[0].weights[k], ref[k])));
    t.diagnostic(`max |diff| after ${steps} steps: vs PyTorch DDP ${worst(ref.ddp)}, vs one process ${worst(ref.single)}`);
    for (const o of mine) {
      assert.equal(o.leaked, 0, "live tensors after training");
      for (const [k, v] of Object.entries(o.weights as Record<string, number[]>)) {
        assert.deepEqual(v, mine[0].weights[k], `${k}: ranks agree exactly`);
        assert.ok(maxDiff(v, ref.ddp[k]) <= 1e-6, `${k}: vs PyTorch DDP, max |diff| ${maxDiff(v, ref.ddp[k])}`);
        assert.ok(maxDiff(v, ref.single[k]) <= 1e-5, `${k}: vs one process on the whole batch, max |diff| ${maxDiff(v, ref.single[k])}`);
        // The steps did move the weights (the comparison is not of untouched initial values).
        assert.ok(maxDiff(v, spec.weights[k as keyof typeof spec.weights].values) > 1e-3, `${k} changed`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

for (const how of ["kill -9", "hang"] as const) {
  test(`a peer that ${how === "hang" ? "hangs" : "is killed (kill -9)"} makes the other rank's collective throw within the timeout`, { timeout: 60_000 }, async () => {
    const timeoutMs = 3000;
    const ranks = await startNodeRanks("peer-fails", 2, { DIST_TIMEOUT_MS: String(timeoutMs) });
    try {
      await ranks[1].line((o) => o.ready);
      if (how === "kill -9") ranks[1].child.kill("SIGKILL");
      const r0 = await ranks[0].line((o) => "error" in o);
      assert.equal(await ranks[0].exit, 0, ranks[0].stderr);
      assert.equal(r0.name, "DistributedError");
      assert.match(r0.error, /allReduce failed on rank 0 of 2 \(timeout 3000 ms\)/);
      // c10d's wait is bounded by the timeout; a killed peer is noticed when its connection closes.
      assert.ok(r0.elapsedMs < timeoutMs + 2000, `threw after ${r0.elapsedMs} ms`);
      assert.match(r0.second, /^barrier refused on rank 0: this process group failed earlier \(allReduce failed/);
      if (how === "hang") assert.ok(r0.elapsedMs >= timeoutMs - 100, `a hung peer is waited for the timeout (${r0.elapsedMs} ms)`);
    } finally {
      for (const r of ranks) r.child.kill("SIGKILL");
    }
  });
}

test("a rank whose peers never come fails to join within the timeout, with the address in the error; nothing leaks", async () => {
  const port = await freePort();
  const t0 = Date.now();
  assert.throws(
    () => initProcessGroup({ rank: 0, worldSize: 2, masterAddr: "127.0.0.1", masterPort: port, timeoutMs: 1500, env: {} }),
    (e: unknown) => e instanceof DistributedError && e.message.includes(`rank 0 of 2 could not join the group at 127.0.0.1:${port} within 1500 ms`),
  );
  assert.ok(Date.now() - t0 < 1500 + 3000, `failed after ${Date.now() - t0} ms`);
  assert.equal(liveProcessGroups(), 0);
});

test("initProcessGroup reads torchrun's environment and names the variable that is wrong", () => {
  assert.throws(() => initProcessGroup({ env: {} }), /no worldSize given and WORLD_SIZE is not set/);
  assert.throws(() => initProcessGroup({ env: { WORLD_SIZE: "2", RANK: "2", MASTER_ADDR: "h", MASTER_PORT: "1" } }), /rank must be an integer in 0\.\.1/);
  assert.throws(() => initProcessGroup({ env: { WORLD_SIZE: "two" } }), (e: any) => e.where === "WORLD_SIZE" && /expected a non-negative integer/.test(e.message));
  assert.throws(() => initProcessGroup({ env: { WORLD_SIZE: "1", RANK: "0", MASTER_ADDR: "h", MASTER_PORT: "70000" } }), /masterPort must be an integer in 1\.\.65535/);
});
