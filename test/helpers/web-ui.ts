// The web UI built from the current sources for a browser test, into a folder of the test's own:
// building into the shared web/dist (what `npm run build:web` does) emptied it while another UI test
// file, running at the same time, was loading pages from it (a blank page, then a 30 s timeout).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { tempDir } from "./data-images.js";

/** A file only this build has (its content random), so a test can see that the server serves this folder. */
export const BUILD_MARK = "winnow-test-build.txt";

/** Builds the UI into a new temp folder and returns it (pass it as the server's `uiDist`). */
export function buildWebUi(): string {
  const out = tempDir("winnow-web-ui-");
  const b = spawnSync(process.execPath, ["node_modules/vite/bin/vite.js", "build", "--config", "web/vite.config.ts", "--logLevel", "error", "--outDir", out, "--emptyOutDir"], { encoding: "utf8" });
  assert.equal(b.status, 0, `vite build failed:\n${b.stdout}\n${b.stderr}`);
  fs.writeFileSync(path.join(out, BUILD_MARK), crypto.randomUUID());
  return out;
}
