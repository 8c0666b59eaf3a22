// INITIALIZING, last part: the weights the run starts from, found or downloaded before the slow stages
// so a bad URL, run id or missing file fails at once. In order: a checkpoint source (path, URL, run id,
// datapool), the resumed run, custom embeddings (no model), a pretrained backbone's publisher file
// (torchvision/…, dinov2/…), Lightly's zoo (pre_trained), random.
import * as path from "node:path";
import { isPretrainedBackbone, pretrainedBackbone } from "../../models/pretrained.js";
import { resolveWeightsFile } from "../../models/weights/resolve.js";
import type { RunContext } from "../context.js";
import { resolveCheckpoint, type ResolvedCheckpoint } from "../checkpoint-source.js";
import { provenanceOf, zooStart } from "../pretrained.js";
import { resolvePolicyPath } from "../policy.js";
import { CountProgress } from "../progress.js";
import { placeResumeCheckpoint } from "../resume-checkpoint.js";
import { saveRunRecord, type RunRecord } from "../store.js";

export interface StartingPoint {
  /** The checkpoint to start from (a checkpoint source, or Lightly's zoo); null otherwise. */
  checkpoint: ResolvedCheckpoint | null;
  /** A pretrained backbone's weights file. */
  pretrained: Awaited<ReturnType<typeof resolveWeightsFile>> | null;
  /** "pretrained resnet50 (file, sha256 …)" for the record and report. */
  pretrainedLabel: string | null;
  /** worker_config.embeddings resolved (under the policy for a worker's job); "" without it. */
  embeddingsFile: string;
  /** A resumed run: its checkpoint, placed where the trainer resumes from; null otherwise. */
  resumeFrom: string | null;
}

/** Resolves the starting weights into the record (startingWeights, saved) and returns them. */
export async function resolveStartingWeights(ctx: RunContext, datapool: readonly RunRecord[]): Promise<StartingPoint> {
  const { record, resume, options: opts } = ctx;
  const wc = ctx.config.worker_config;
  const lc = ctx.config.lightly_config;
  const log = ctx.log;
  // A resumed run continues its own checkpoint; the one its config started from is not fetched again.
  const source = resume ? null : await resolveCheckpoint(
    { checkpoint: wc.checkpoint, checkpointRunId: wc.checkpoint_run_id, datapool: wc.embeddings ? [] : [...datapool] },
    ctx.paths.checkpoints, { log, policy: opts.policy, base: ctx.input },
  );
  if (source) log(`checkpoint: ${source.path} (${source.origin})`);
  let checkpoint = source;
  let pretrained: StartingPoint["pretrained"] = null;
  const download = (what: string): { bar: CountProgress; onProgress: (b: number, t: number) => void } => {
    const bar = new CountProgress(`downloading ${what} (KiB)`, ctx.stream);
    return { bar, onProgress: (b, t) => bar.update(Math.floor(b / 1024), Math.ceil(Math.max(t, b) / 1024)) };
  };
  if (source) record.startingWeights = provenanceOf(source);
  else if (resume) record.startingWeights = { kind: "resume", runId: resume.runId, path: resume.checkpoint };
  else if (wc.embeddings) record.startingWeights = { kind: "custom-embeddings" };
  else if (isPretrainedBackbone(lc.model.name) && lc.pre_trained) {
    const { bar, onProgress } = download(`${lc.model.name} weights`);
    pretrained = await resolveWeightsFile(pretrainedBackbone(lc.model.name).weights, {
      log, signal: ctx.signal, onProgress, hint: "or set lightly_config.pre_trained: false to run without it (random initial weights)",
    });
    bar.done();
    record.startingWeights = { kind: "backbone", backbone: lc.model.name, sha256: pretrained.sha256, foundIn: pretrained.source, path: pretrained.path };
  } else if (lc.pre_trained) {
    const { bar, onProgress } = download("pretrained weights");
    const zoo = await zooStart(lc, ctx.paths.checkpoints, { log, signal: ctx.signal, onProgress });
    bar.done();
    checkpoint = zoo.ckpt;
    record.startingWeights = zoo.weights;
    for (const n of zoo.notes) ctx.note(n);
  } else record.startingWeights = { kind: "random" };
  saveRunRecord(record);
  const pretrainedLabel = pretrained ? `pretrained ${lc.model.name} (${path.basename(pretrained.path)}, sha256 ${pretrained.sha256.slice(0, 12)})` : null;
  const embeddingsFile = !wc.embeddings ? "" : opts.policy ? resolvePolicyPath(wc.embeddings, "worker_config.embeddings", opts.policy, ctx.input) : path.resolve(wc.embeddings);
  const resumeFrom = resume ? await placeResumeCheckpoint(resume, ctx.checkpointDir, wc.enable_training, log) : null;
  return { checkpoint, pretrained, pretrainedLabel, embeddingsFile, resumeFrom };
}

/** Where the weights came from, as the record's `weights` says it before training. */
export function startingWeightsLabel(ctx: RunContext, start: StartingPoint): string {
  const c = start.checkpoint;
  if (ctx.config.worker_config.embeddings) return "custom-embeddings";
  if (c) return c.origin === "path" ? "checkpoint" : c.origin;
  if (ctx.resume) return `resume:${ctx.resume.runId}`;
  return start.pretrainedLabel ?? "random-init";
}

/** The same after this run trained. */
export function trainedWeightsLabel(ctx: RunContext, start: StartingPoint): string {
  const c = start.checkpoint;
  if (c) return `trained from ${c.origin === "path" ? "checkpoint" : c.origin}`;
  if (ctx.resume) return `trained (resumed run ${ctx.resume.runId})`;
  return start.pretrainedLabel ? `trained from ${start.pretrainedLabel}` : "trained";
}
