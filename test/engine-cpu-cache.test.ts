// The addon's caching CPU allocator (native/src/cpu_cache.cc): large blocks are reused, reused blocks
// carry correct values, the cap and WINNOW_CPU_CACHE_MB=0 are honoured, and reuse removes the page
// faults that are its reason to exist.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as torch from "../src/torch/index.js";

const child = fileURLToPath(new URL("./helpers/cpu-cache-child.ts", import.meta.url));
function runChild(mb: string | undefined): { rounds: number; faults: number; stats: torch.CpuCacheStats } {
  const env = { ...process.env };
  if (mb === undefined) delete env.WINNOW_CPU_CACHE_MB;
  else env.WINNOW_CPU_CACHE_MB = mb;
  const r = spawnSync(process.execPath, ["--import", "tsx", child], { encoding: "utf8", env, timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split("\n").pop()!);
}

test("a freed large CPU block is held and handed out again; empty() gives it back", () => {
  torch.cpuCache.empty();
  const s0 = torch.cpuCache.stats();
  assert.equal(s0.enabled, true);
  assert.equal(s0.cachedBytes, 0);
  assert.ok(s0.capBytes > 0);
  const bytes = 4 << 20; // 1 Mi float32
  torch.ones([1 << 20]).dispose();
  const s1 = torch.cpuCache.stats();
  assert.ok(s1.cachedBytes >= bytes, `held ${s1.cachedBytes} bytes after freeing ${bytes}`);
  // zeros() on the reused block (which held ones) must still read as zeros
  const z = torch.zeros([1 << 20]);
  const s2 = torch.cpuCache.stats();
  assert.equal(s2.hits, s1.hits + 1);
  assert.ok(s2.cachedBytes < s1.cachedBytes);
  assert.equal(z.sum().item(), 0);
  z.dispose();
  const released = torch.cpuCache.empty();
  assert.ok(released >= bytes);
  assert.equal(torch.cpuCache.stats().cachedBytes, 0);
});

test("small tensors bypass the cache; near-equal sizes share a size class", () => {
  torch.cpuCache.empty();
  const s0 = torch.cpuCache.stats();
  torch.ones([1000]).dispose(); // 4 kB
  assert.equal(torch.cpuCache.stats().cachedBytes, 0);
  assert.equal(torch.cpuCache.stats().misses, s0.misses);
  torch.ones([1 << 20]).dispose();
  const s1 = torch.cpuCache.stats();
  const t = torch.ones([(1 << 20) - 1000]); // 4 kB smaller: same class (classes are 1/8 of a power of two apart)
  assert.equal(torch.cpuCache.stats().hits, s1.hits + 1);
  assert.equal(t.sum().item(), (1 << 20) - 1000);
  t.dispose();
  torch.cpuCache.empty();
});

test("a smaller request reuses a held block up to twice its size, not beyond", () => {
  torch.cpuCache.empty();
  torch.ones([1 << 20]).dispose(); // 4 MiB held
  const s0 = torch.cpuCache.stats();
  const a = torch.ones([3 << 18]); // 3 MiB: served by the 4 MiB block
  assert.equal(torch.cpuCache.stats().hits, s0.hits + 1);
  assert.equal(torch.cpuCache.stats().cachedBytes, 0);
  a.dispose(); // goes back as a 4 MiB block
  const s1 = torch.cpuCache.stats();
  assert.equal(s1.cachedBytes, s0.cachedBytes);
  const b = torch.ones([1 << 18]); // 1 MiB: a 4 MiB block is too big for it
  assert.equal(torch.cpuCache.stats().misses, s1.misses + 1);
  assert.equal(b.sum().item(), 1 << 18);
  b.dispose();
  torch.cpuCache.empty();
});

// Pages a fresh 32 MiB mapping faults in: 4 KiB ones, or 2 MiB ones where transparent huge pages are "always".
function faultsPer32MiB(): number {
  try {
    return /\[always\]/.test(readFileSync("/sys/kernel/mm/transparent_hugepage/enabled", "utf8")) ? 16 : 8192;
  } catch {
    return 8192;
  }
}

test("reusing blocks removes the page faults of re-allocating them (child processes, 16 × 32 MiB)", () => {
  const on = runChild(undefined);
  const off = runChild("0");
  assert.equal(on.stats.enabled, true);
  assert.equal(off.stats.enabled, false);
  assert.ok(on.stats.hits >= on.rounds - 1, `hits ${on.stats.hits}`);
  // Without the cache each round maps and touches a fresh 32 MiB; with it only the first round does.
  assert.ok(off.faults >= (off.rounds / 2) * faultsPer32MiB(), `faults without the cache: ${off.faults}`);
  assert.ok(on.faults < off.faults / 3, `faults with the cache ${on.faults}, without ${off.faults}`);
});

test("WINNOW_CPU_CACHE_MB caps the bytes held free", () => {
  const capped = runChild("16"); // below one 32 MiB block: nothing is held
  assert.equal(capped.stats.enabled, true);
  assert.equal(capped.stats.capBytes, 16 << 20);
  assert.equal(capped.stats.cachedBytes, 0);
  assert.equal(capped.stats.hits, 0);
});
