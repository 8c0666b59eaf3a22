// Memory: scopes free what they should and keep what they return, dispose() is idempotent, and a
// long training loop leaves the number of live tensors exactly flat and the process RSS flat.
// The test runner exposes global.gc (--expose-gc); without it the RSS check is skipped.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as torch from "../src/torch/index.js";
import { F, Tensor } from "../src/torch/index.js";

// One intra-op thread: the nets here are tiny, and on a shared 2-core machine two OpenMP threads
// waiting on each other at every small op make the 1,000-step loop many times slower.
torch.setNumThreads(1);
torch.manualSeed(7);

const gc = (globalThis as { gc?: () => void }).gc;
const MB = 1024 * 1024;

/**
 * RSS after garbage collection. Node runs N-API finalizers (which free the small native holder
 * behind each handle, disposed or not) on a later turn of the event loop, not inside gc(): yield
 * to it between collections so that what is measured is memory still in use.
 */
async function rssAfterGc(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((r) => setImmediate(r));
  }
  return process.memoryUsage().rss;
}

test("scope frees the tensors it does not return and keeps the one it does", () => {
  const live = torch.liveTensors();
  const y = torch.scope(() => {
    const a = torch.ones([4]);
    const b = a.add(1);
    b.mul(3); // intermediate, unreferenced
    return b.sub(0.5);
  });
  assert.equal(torch.liveTensors(), live + 1);
  assert.deepEqual(y.toArray(), [1.5, 1.5, 1.5, 1.5]);
  y.dispose();
  assert.equal(torch.liveTensors(), live);
});

test("scope keeps tensors reachable through arrays, plain objects and Maps, and frees the rest", () => {
  const live = torch.liveTensors();
  const seen: Tensor[] = [];
  const r = torch.scope(() => {
    const t = (v: number) => {
      const x = torch.full([2], v);
      seen.push(x);
      return x;
    };
    const dropped = t(0);
    void dropped;
    return { a: t(1), list: [t(2), [t(3)]], nested: { deep: { m: new Map([["k", t(4)]]) } }, n: 5, s: "x" };
  });
  assert.equal(torch.liveTensors(), live + 4);
  assert.equal(seen[0].isDisposed, true, "the unreturned tensor is freed");
  assert.deepEqual(r.a.toArray(), [1, 1]);
  assert.deepEqual((r.list[1] as Tensor[])[0].toArray(), [3, 3]);
  assert.deepEqual(r.nested.deep.m.get("k")!.toArray(), [4, 4]);
  for (const x of seen.slice(1)) x.dispose();
  assert.equal(torch.liveTensors(), live);
});

test("nested scopes: an inner result moves to the outer scope, which frees it unless returned", () => {
  const live = torch.liveTensors();
  let inner: Tensor[] = [];
  const kept = torch.scope(() => {
    inner = torch.scope(() => [torch.ones([3]), torch.zeros([3])]);
    assert.equal(torch.scopeDepth(), 1);
    assert.equal(inner[0].isDisposed, false, "returned from the inner scope: alive in the outer one");
    return inner[1];
  });
  assert.equal(inner[0].isDisposed, true, "not returned from the outer scope: freed at its end");
  assert.equal(kept.isDisposed, false);
  assert.equal(torch.liveTensors(), live + 1);
  kept.dispose();
  assert.equal(torch.liveTensors(), live);
});

test("tensors made outside a scope survive it; keep() takes one out of every scope", () => {
  const live = torch.liveTensors();
  const outside = torch.ones([2]);
  let kept!: Tensor;
  torch.scope(() => {
    outside.add(1);
    torch.scope(() => {
      kept = torch.keep(torch.full([2], 9));
      torch.zeros([5]);
    });
  });
  assert.equal(outside.isDisposed, false);
  assert.equal(kept.isDisposed, false);
  assert.deepEqual(kept.toArray(), [9, 9]);
  assert.equal(torch.liveTensors(), live + 2);
  outside.dispose();
  kept.dispose();
  assert.equal(torch.liveTensors(), live);
});

test("a scope that throws frees its tensors and rethrows", () => {
  const live = torch.liveTensors();
  const depth = torch.scopeDepth();
  assert.throws(() => torch.scope(() => {
    torch.ones([100]);
    throw new Error("boom");
  }), /boom/);
  assert.equal(torch.liveTensors(), live);
  assert.equal(torch.scopeDepth(), depth);
});

test("scope rejects a Promise-returning fn and frees what it made synchronously", async () => {
  const live = torch.liveTensors();
  let made: Tensor | null = null;
  assert.throws(
    () => torch.scope((async () => {
      made = torch.ones([3]);
      return made;
    }) as () => unknown),
    /Promise/,
  );
  assert.equal(torch.liveTensors(), live);
  assert.equal(made!.isDisposed, true);
  assert.equal(torch.scopeDepth(), 0);
  await new Promise((r) => setImmediate(r));
});

test("dispose() is idempotent; use after dispose throws; Symbol.dispose works", () => {
  const live = torch.liveTensors();
  const x = torch.ones([10]);
  assert.equal(torch.liveTensors(), live + 1);
  x.dispose();
  x.dispose();
  x[Symbol.dispose]();
  assert.equal(torch.liveTensors(), live, "counted down once");
  assert.equal(x.isDisposed, true);
  assert.throws(() => x.add(1), /Tensor used after dispose\(\)/);
  assert.throws(() => x.toArray(), /Tensor used after dispose\(\)/);
  const other = torch.ones([10]);
  assert.throws(() => other.add(x), /Tensor used after dispose\(\)/);
  other.dispose();
  // Disposing inside a scope is fine too: the scope does not dispose it again.
  torch.scope(() => {
    const y = torch.ones([2]);
    y.dispose();
    y.dispose();
  });
  assert.equal(torch.liveTensors(), live);
});

test("liveBytes follows allocations: dtype sizes, views at their own size, grads, dispose", () => {
  const b0 = torch.liveBytes();
  const t0 = torch.liveTensors();
  const f = torch.zeros([1000]);
  assert.equal(torch.liveBytes(), b0 + 4000);
  const l = torch.zeros([10], { dtype: "int64" });
  assert.equal(torch.liveBytes(), b0 + 4080);
  const h = torch.zeros([10], { dtype: "float16" });
  assert.equal(torch.liveBytes(), b0 + 4100);
  const v = f.narrow(0, 0, 100);
  assert.equal(torch.liveBytes(), b0 + 4500, "a view counts at its own size");
  const meta = torch.zeros([1 << 20], { device: "meta" });
  assert.equal(torch.liveBytes(), b0 + 4500, "non-CPU tensors are not CPU bytes");
  assert.equal(torch.liveTensors(), t0 + 5);
  for (const t of [f, l, h, v, meta]) t.dispose();
  assert.equal(torch.liveBytes(), b0);
  assert.equal(torch.liveTensors(), t0);

  const w = torch.randn([256], { requiresGrad: true });
  torch.scope(() => w.mul(2).sum().backward());
  assert.equal(torch.liveBytes(), b0 + 1024, "the grad is held by the tensor, not by a handle");
  torch.scope(() => {
    w.grad; // a handle on the grad: counted while it lives
    assert.equal(torch.liveBytes(), b0 + 2048);
  });
  assert.equal(torch.liveBytes(), b0 + 1024);
  w.dispose();
  assert.equal(torch.liveBytes(), b0);
});

test("the GC backstop frees tensors nobody disposed", async () => {
  assert.ok(gc, "run with --expose-gc (scripts/run-tests.mjs does)");
  const live = torch.liveTensors();
  (() => {
    for (let i = 0; i < 100; i++) torch.ones([16]);
  })();
  assert.equal(torch.liveTensors(), live + 100);
  for (let i = 0; i < 20 && torch.liveTensors() > live; i++) {
    gc!();
    await new Promise((r) => setImmediate(r));
  }
  assert.equal(torch.liveTensors(), live);
});

test("1,000 training steps (conv→bn→relu→maxpool→linear, SGD) leave live tensors exactly flat and RSS flat", async () => {
  const params = {
    cw: torch.randn([8, 3, 3, 3]).mul_(0.2).requiresGrad_(true),
    cb: torch.zeros([8], { requiresGrad: true }),
    bw: torch.ones([8], { requiresGrad: true }),
    bb: torch.zeros([8], { requiresGrad: true }),
    lw: torch.randn([10, 8 * 4 * 4]).mul_(0.05).requiresGrad_(true),
    lb: torch.zeros([10], { requiresGrad: true }),
  };
  const runningMean = torch.zeros([8]);
  const runningVar = torch.ones([8]);
  const x = torch.randn([16, 3, 8, 8]);
  const target = torch.randint(0, 10, [16]);
  const lr = 0.05;

  const step = (): number =>
    torch.scope(() => {
      const noisy = x.add(torch.randn([16, 3, 8, 8]).mul(0.1));
      let h = F.conv2d(noisy, params.cw, params.cb, 1, 1);
      h = F.batchNorm(h, runningMean, runningVar, { weight: params.bw, bias: params.bb, training: true });
      h = F.maxPool2d(F.relu(h), 2).flatten(1);
      const loss = F.crossEntropy(F.linear(h, params.lw, params.lb), target);
      loss.backward();
      torch.noGrad(() => {
        for (const p of Object.values(params)) {
          p.add_(p.grad!, -lr);
          p.grad = null;
        }
      });
      return loss.item();
    });

  const live = torch.liveTensors();
  const bytes = torch.liveBytes();
  const losses: number[] = [];
  let rss100 = 0;
  for (let i = 1; i <= 1000; i++) {
    losses.push(step());
    assert.equal(torch.liveTensors(), live, `live tensors after step ${i}`);
    // A real loop awaits its data loader; the turn of the event loop lets Node run the pending
    // finalizers of this step's (disposed) handles, ~200 bytes each, which otherwise pile up
    // until the loop yields. Yield every 50 steps, as a data loader would at the least.
    if (i % 50 === 0) await new Promise((r) => setImmediate(r));
    if (i === 100) rss100 = await rssAfterGc();
  }
  const rss1000 = await rssAfterGc();
  assert.equal(torch.liveBytes(), bytes);
  for (const p of Object.values(params)) assert.equal(p.grad, null, "grads were cleared");
  const first = losses.slice(0, 20).reduce((a, b) => a + b) / 20;
  const last = losses.slice(-20).reduce((a, b) => a + b) / 20;
  assert.ok(last < first * 0.5, `the loop trains (loss ${first.toFixed(3)} → ${last.toFixed(3)})`);
  const growth = (rss1000 - rss100) / MB;
  if (gc) assert.ok(growth < 20, `RSS grew ${growth.toFixed(1)} MB between step 100 and step 1000 (limit 20 MB)`);
  console.log(`# RSS step 100: ${(rss100 / MB).toFixed(1)} MB, step 1000: ${(rss1000 / MB).toFixed(1)} MB (${growth >= 0 ? "+" : ""}${growth.toFixed(1)} MB); loss ${first.toFixed(3)} → ${last.toFixed(3)}`);
  for (const t of [...Object.values(params), runningMean, runningVar, x, target]) t.dispose();
  assert.equal(torch.liveTensors(), live - 10);
});
