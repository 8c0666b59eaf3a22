// The OpenMP wait default (src/torch/omp-env.ts): set only when the user set nothing, and in the
// environment before libgomp initialises (libgomp prints what it read with OMP_DISPLAY_ENV=VERBOSE).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { applyOpenMPDefaults, DEFAULT_GOMP_SPINCOUNT } from "../src/torch/omp-env.js";

test("applyOpenMPDefaults: a short spin when neither variable is set, the user's setting otherwise", () => {
  const empty: NodeJS.ProcessEnv = {};
  assert.match(applyOpenMPDefaults(empty), /GOMP_SPINCOUNT=1000 \(Winnow's default\)/);
  assert.deepEqual(empty, { GOMP_SPINCOUNT: DEFAULT_GOMP_SPINCOUNT });
  const passive: NodeJS.ProcessEnv = { OMP_WAIT_POLICY: "PASSIVE" };
  assert.equal(applyOpenMPDefaults(passive), "OMP_WAIT_POLICY=PASSIVE (set by the caller)");
  assert.deepEqual(passive, { OMP_WAIT_POLICY: "PASSIVE" });
  const spin: NodeJS.ProcessEnv = { GOMP_SPINCOUNT: "0" };
  assert.equal(applyOpenMPDefaults(spin), "GOMP_SPINCOUNT=0 (set by the caller)");
  assert.deepEqual(spin, { GOMP_SPINCOUNT: "0" });
});

function libgompSays(extra: NodeJS.ProcessEnv): string {
  const env: NodeJS.ProcessEnv = { ...process.env, OMP_DISPLAY_ENV: "VERBOSE" };
  delete env.OMP_WAIT_POLICY;
  delete env.GOMP_SPINCOUNT;
  Object.assign(env, extra);
  const r = spawnSync(process.execPath, ["--import", "tsx", "-e", 'const t = await import("./src/torch/index.ts"); t.ones([4]).add(1);'], {
    encoding: "utf8", env, timeout: 60_000, cwd: new URL("..", import.meta.url).pathname,
  });
  assert.equal(r.status, 0, r.stderr);
  const line = r.stderr.split("\n").find((l) => l.includes("GOMP_SPINCOUNT"));
  assert.ok(line, `libgomp printed no GOMP_SPINCOUNT:\n${r.stderr.slice(0, 2000)}`);
  return line;
}

test("loading the engine: libgomp reads the default spin count, or the user's", () => {
  assert.match(libgompSays({}), /GOMP_SPINCOUNT = '1000'/);
  assert.match(libgompSays({ GOMP_SPINCOUNT: "20000" }), /GOMP_SPINCOUNT = '20000'/);
  // PASSIVE given by the user: libgomp then never spins (spin count 0), and we add nothing.
  assert.match(libgompSays({ OMP_WAIT_POLICY: "PASSIVE" }), /GOMP_SPINCOUNT = '0'/);
});
