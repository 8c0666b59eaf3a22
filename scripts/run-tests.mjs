#!/usr/bin/env node
// Runs every test/**/*.test.ts with node's built-in test runner (TypeScript through tsx).
// Files run in separate processes, two at a time: the machine has 2 cores and each
// process already uses libtorch's intra-op threads. WINNOW_OFFLINE=1: nothing in the suite may
// download pretrained weights (the weights tests serve files from a local server explicitly).
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...collect(p));
    else if (name.endsWith(".test.ts")) out.push(p);
  }
  return out;
}
const filter = process.argv.slice(2);
let files = collect("test");
if (filter.length) files = files.filter((f) => filter.some((s) => f.includes(s)));
const res = spawnSync(
  process.execPath,
  ["--import", "tsx", "--expose-gc", "--test", "--test-concurrency=2", "--test-reporter=spec", ...files],
  { stdio: "inherit", env: { ...process.env, WINNOW_TEST: "1", WINNOW_OFFLINE: "1" } },
);
process.exit(res.status ?? 1);
