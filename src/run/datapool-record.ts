// A service worker's job runs with its own runs index: the dataset's datapool as the server knows it
// goes in as one COMPLETED record whose selection is that datapool, so `use_datapool` finds it the way
// a local run finds earlier local runs (src/run/stages/datapool.ts).
import * as fs from "node:fs";
import * as path from "node:path";
import { runPaths } from "./paths.js";
import { saveRunRecord, RUN_RECORD_FORMAT } from "./store.js";

/** Records run `runId` on `input` in the current index ($WINNOW_HOME) with `filenamesFile` as its selection, in `folder`. */
export function recordDatapoolRun(o: { runId: string; input: string; filenamesFile: string; folder: string }): void {
  const paths = runPaths(o.folder);
  fs.mkdirSync(path.dirname(paths.selectedFilenames), { recursive: true });
  fs.copyFileSync(o.filenamesFile, paths.selectedFilenames);
  const now = new Date().toISOString();
  saveRunRecord({
    format: RUN_RECORD_FORMAT, id: o.runId, state: "COMPLETED", input: o.input, output: o.folder, configFile: null,
    startedAt: now, endedAt: now, durationMs: 0, stages: [], checkpoint: null, trained: false, weights: null,
    useDatapool: true, datapoolUpdate: true, selectedCount: null, datapoolCount: null, error: null, pid: process.pid,
  });
}
