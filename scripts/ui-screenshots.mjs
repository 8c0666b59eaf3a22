#!/usr/bin/env node
// Regenerates the web UI's screenshots in docs/ui/: runs the browser tests that take them
// (test/ui-live.test.ts: every page, desktop 1440×900 and phone 390×844, with a training, a failed,
// an aborted, a completed and a queued run; test/ui-map-browser.test.ts: sign-in, the map's lasso,
// folder and metadata colours), then copies test-artifacts/ui-live/*.png over docs/ui/. Takes a few minutes.
//
//   node scripts/ui-screenshots.mjs
import { copyFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";

const from = join("test-artifacts", "ui-live");
rmSync(from, { recursive: true, force: true });
const t = spawnSync(process.execPath, ["scripts/run-tests.mjs", "ui-live", "ui-map-browser"], { stdio: "inherit" });
if (t.status !== 0) {
  console.error("the browser tests failed: docs/ui/ left as it was");
  process.exit(1);
}
const shots = readdirSync(from).filter((f) => f.endsWith(".png")).sort();
for (const f of shots) copyFileSync(join(from, f), join("docs", "ui", f));
console.log(`${shots.length} screenshots copied to docs/ui/: ${shots.join(", ")}`);
