// shardIndices against torch.utils.data.DistributedSampler itself (Debian's PyTorch 1.13): the exact
// index lists for every rank, over shuffle/drop_last, sizes that divide and don't, and several epochs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as torch from "../src/torch/index.js";
import { seededPermutation, shardIndices } from "../src/distributed/index.js";
import { PYTHON } from "./helpers/oracle.js";

const CASES = [
  // n, world, epoch, seed, shuffle, dropLast
  [10, 2, 0, 0, true, false],
  [10, 3, 1, 0, true, false],
  [10, 3, 1, 0, true, true],
  [7, 4, 5, 42, true, false],
  [7, 4, 5, 42, false, false],
  [7, 4, 2, 42, false, true],
  [2, 5, 0, 3, true, false], // padding longer than the data: the list repeats several times
  [1000, 3, 3, 123456, true, false],
  [1001, 8, 9, 1, true, true],
] as const;

test("shardIndices equals PyTorch's DistributedSampler for every rank", () => {
  const py = `
import json, sys, torch
from torch.utils.data import DistributedSampler
out = []
for n, world, epoch, seed, shuffle, drop_last in json.loads(sys.argv[1]):
    ranks = []
    for rank in range(world):
        s = DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=shuffle, seed=seed, drop_last=drop_last)
        s.set_epoch(epoch)
        ranks.append(list(s))
    out.append(ranks)
print(json.dumps(out))`;
  const ref = JSON.parse(execFileSync(PYTHON, ["-c", py, JSON.stringify(CASES)], { encoding: "utf8" }));
  const base = torch.liveTensors();
  CASES.forEach(([n, world, epoch, seed, shuffle, dropLast], c) => {
    for (let rank = 0; rank < world; rank++) {
      assert.deepEqual(shardIndices(n, rank, world, epoch, seed, { shuffle, dropLast }), ref[c][rank], `case ${c} rank ${rank}`);
    }
  });
  assert.equal(torch.liveTensors(), base);
});

test("each epoch's shards cover every index exactly once when the world divides n, and reshuffle per epoch", () => {
  const n = 60;
  const seen = (epoch: number) => [0, 1, 2].flatMap((r) => shardIndices(n, r, 3, epoch, 5));
  for (const epoch of [0, 1]) assert.deepEqual(seen(epoch).slice().sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i));
  assert.notDeepEqual(seen(0), seen(1));
});

test("the seeded permutation leaves the global RNG stream alone", () => {
  torch.manualSeed(9);
  const a = torch.rand([4]);
  torch.manualSeed(9);
  seededPermutation(100, 77);
  const b = torch.rand([4]);
  assert.deepEqual(Array.from(b.data() as Float32Array), Array.from(a.data() as Float32Array));
  a.dispose();
  b.dispose();
});

test("shardIndices names the bad argument", () => {
  assert.throws(() => shardIndices(10, 2, 2), /rank 2 is not below worldSize 2/);
  assert.throws(() => shardIndices(10, 0, 0), /worldSize must be an integer ≥ 1/);
  assert.throws(() => shardIndices(-1, 0, 1), /n must be an integer ≥ 0/);
});
