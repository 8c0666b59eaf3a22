// Engine calls in worker threads while the thread or the process goes away: node-addon-api must not
// turn the "environment is shutting down" failure of a JS exception into std::terminate (exit 134).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const child = fileURLToPath(new URL("./helpers/terminate-worker.ts", import.meta.url));

for (const mode of ["terminate", "exit"] as const) {
  test(`worker thread inside an engine call: ${mode === "terminate" ? "worker.terminate()" : "process.exit()"} ends cleanly (3 tries)`, () => {
    for (let i = 0; i < 3; i++) {
      const r = spawnSync(process.execPath, ["--import", "tsx", child, mode], { encoding: "utf8", timeout: 120_000 });
      assert.equal(r.status, 0, `try ${i + 1}: exit ${r.status} signal ${r.signal}\n${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, mode === "exit" ? /exiting/ : /terminated/);
      assert.doesNotMatch(r.stderr, /terminate called/);
    }
  });
}
