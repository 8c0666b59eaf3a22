// The newest epoch checkpoint is uploaded while training (checked every second), so a crash loses at
// most one epoch. A full storage (507) or a 409 ends the run now; any other failure is tried again
// with the next epoch's file.
import * as fs from "node:fs";
import * as path from "node:path";
import { ApiConflictError } from "../client/errors.js";
import { isStorageFull } from "./retry.js";
import { sleep } from "./retrying.js";
import type { RunReporter } from "./run-reporter.js";

export class CheckpointUploader {
  private lastUploaded = "";
  private uploading = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly ckptDir: string,
    private readonly report: RunReporter,
    private readonly log: (line: string) => void,
  ) {
    this.timer = setInterval(() => {
      if (this.uploading) return;
      this.uploading = true;
      this.uploadNewest().finally(() => (this.uploading = false));
    }, 1000);
  }

  /** Stops checking and waits for an upload under way. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    while (this.uploading) await sleep(50);
  }

  private async uploadNewest(): Promise<void> {
    let files: string[];
    try {
      files = fs.readdirSync(this.ckptDir).filter((f) => f.endsWith(".ckpt"));
    } catch {
      return;
    }
    const newest = files.map((f) => ({ f, st: fs.statSync(path.join(this.ckptDir, f)) })).sort((a, b) => b.st.mtimeMs - a.st.mtimeMs)[0];
    if (!newest) return;
    const key = `${newest.f}:${newest.st.mtimeMs}:${newest.st.size}`;
    if (key === this.lastUploaded) return;
    this.lastUploaded = key;
    await this.report.upload(path.join(this.ckptDir, newest.f), "checkpoint.ckpt", "CHECKPOINT").catch((e) => {
      if (isStorageFull(e) || e instanceof ApiConflictError) this.report.uploadFailed("checkpoint.ckpt", e);
      else this.log(`run ${this.report.runId}: checkpoint upload failed: ${(e as Error).message}`);
    });
  }
}
