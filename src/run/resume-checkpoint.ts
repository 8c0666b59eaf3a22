// Puts the checkpoint a run resumes from into its own checkpoint folder as last.ckpt, where the
// trainer continues it (and rewrites it each epoch): copied from a local run's folder with the
// top-k epoch files beside it (so the resumed run keeps ranking them), or downloaded (the service
// hands a signed URL of the crashed run's CHECKPOINT artifact).
import * as fs from "node:fs";
import * as path from "node:path";
import { downloadCheckpoint, redactUrl } from "./checkpoint-source.js";

export async function placeResumeCheckpoint(
  resume: { runId: string; checkpoint: string }, ckptDir: string, enableTraining: boolean, log: (m: string) => void,
): Promise<string> {
  if (!enableTraining) throw new Error(`resume of run ${resume.runId}: worker_config.enable_training is false, so there is no training to continue`);
  fs.mkdirSync(ckptDir, { recursive: true });
  const dest = path.join(ckptDir, "last.ckpt");
  if (/^https?:\/\//i.test(resume.checkpoint)) {
    await downloadCheckpoint(resume.checkpoint, dest, { log });
    log(`resuming run ${resume.runId} from its checkpoint ${redactUrl(resume.checkpoint)}`);
    return dest;
  }
  const src = path.resolve(resume.checkpoint);
  if (src !== dest) {
    fs.copyFileSync(src, dest);
    for (const f of fs.readdirSync(path.dirname(src))) {
      if (/^lightly_epoch_\d+\.ckpt$/.test(f)) fs.copyFileSync(path.join(path.dirname(src), f), path.join(ckptDir, f));
    }
  }
  log(`resuming run ${resume.runId} from ${src}`);
  return dest;
}
