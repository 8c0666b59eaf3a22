// A run over several ranks (processes): rank 0 runs every stage and writes every output, the other
// ranks only load the dataset, train and embed their share (nothing of theirs is kept). The ranks
// meet at the same collectives in the same order:
//   1. the group forms (rank 0 in INITIALIZING)
//   2. barrier: rank 0 has decoded the dataset into the cache (the others then open it: cache hits)
//   3. rank 0's plan (train or not, the checkpoint to start or resume from, embed or not)
//   4. training (train() with the group: parameters broadcast, gradients all-reduced)
//   5. embedding, gathered on rank 0 (src/pipeline/embed-sharded.ts)
//   6. barrier, then the group is destroyed
// A rank that fails closes its connections: the others fail at their next collective
// (DistributedError), and the launcher (or torchrun) stops whichever is left.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as torch from "../torch/index.js";
import { broadcastJson, initProcessGroup, type ProcessGroup, type Rendezvous } from "../distributed/index.js";
import { embedImages } from "../pipeline/index.js";
import { train as trainModel } from "../ssl/index.js";
import { readRunConfigFile, resolveRunConfig } from "../config/run-config.js";
import { objectLevelPlan } from "../config/object-level.js";
import { createRunContext, type RunContext } from "./context.js";
import type { RunOptions } from "./options.js";
import { localResumeSource } from "./resume.js";
import { withSourceModel } from "./source-model.js";
import { loadDataset } from "./stages/load-dataset.js";
import { dropCorruptVideos } from "./stages/check-corruptness.js";
import type { StartingPoint } from "./stages/starting-weights.js";

/** This process's place among the ranks (src/cli/run.ts fills it from torchrun's environment). */
export interface RankSetup {
  rendezvous: Rendezvous;
  /** "cpu" or "cuda:<LOCAL_RANK>". */
  device: string;
  /** libtorch intra-op threads of this rank. */
  threads: number;
  /** Bound on the rendezvous and on every collective (default torch's 30 minutes). */
  timeoutMs?: number;
}

/** What rank 0 decides and the others follow. */
export interface RankPlan {
  train: boolean;
  startFrom: string | null;
  resumeFrom: string | null;
  /** False when the run takes worker_config.embeddings (nothing is embedded). */
  embed: boolean;
}

export function joinGroup(setup: RankSetup): ProcessGroup {
  const { rendezvous: r } = setup;
  return initProcessGroup({ rank: r.rank, worldSize: r.worldSize, localRank: r.localRank, masterAddr: r.masterAddr, masterPort: r.masterPort, timeoutMs: setup.timeoutMs });
}

export const sharePlan = (pg: ProcessGroup, plan?: RankPlan): RankPlan => broadcastJson<RankPlan>(pg, plan);

/** The last collective: every rank is done with the group, so destroying it surprises nobody. */
export function leaveGroup(pg: ProcessGroup | null): void {
  if (!pg || pg.isDestroyed) return;
  try {
    pg.barrier();
  } finally {
    pg.destroy();
  }
}

/** The run's config and input as rank 0 resolves them (a local --resume takes its source run's). */
function otherRankContext(opts: RunOptions, rank: number, scratch: string): RunContext {
  const local = typeof opts.resume === "string" ? localResumeSource(opts.resume, opts) : null;
  const source = local ? { raw: local.config as unknown } : withSourceModel(opts.configFile ? readRunConfigFile(opts.configFile) : opts.config ?? {}, opts.overrides);
  const config = resolveRunConfig(source.raw, opts.overrides ?? {}, opts.configFile ?? null);
  const inputGiven = local ? local.record.input : opts.input!;
  const plan = objectLevelPlan(config.worker_config, config.selection_config).plan!;
  const input = fs.existsSync(inputGiven) ? fs.realpathSync(inputGiven) : path.resolve(inputGiven);
  return createRunContext({ id: `rank-${rank}`, config, plan, output: scratch, input, inputGiven, resume: null, options: { ...opts, stream: null, onProgress: undefined, onState: undefined } });
}

/**
 * A rank other than 0: the same config and input, a scratch folder of its own (removed at the end)
 * for its log and what train() writes; no run folder, no record. Throws what went wrong (the CLI exits 1).
 */
export async function runOtherRank(opts: RunOptions, setup: RankSetup): Promise<void> {
  const rank = setup.rendezvous.rank;
  const say = (m: string): void => void opts.stream?.write(`[rank ${rank}] ${m}\n`);
  torch.setNumThreads(setup.threads);
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), `winnow-rank-${rank}-`));
  let pg: ProcessGroup | null = null;
  let ctx: RunContext | null = null;
  try {
    ctx = otherRankContext(opts, rank, scratch);
    const lc = ctx.config.lightly_config;
    pg = joinGroup(setup);
    pg.barrier(); // rank 0 has decoded the dataset
    const data = await loadDataset(ctx);
    dropCorruptVideos(ctx, data); // as rank 0's CHECKING_CORRUPTNESS: the same images on every rank
    const plan = sharePlan(pg);
    if (plan.train) {
      await trainModel({
        cache: data.trainItems, config: lc, outDir: scratch, device: setup.device, processGroup: pg,
        startFrom: plan.startFrom ?? undefined, resumeFrom: plan.resumeFrom ?? undefined, log: ctx.log,
      });
    }
    if (plan.embed) embedImages({ cache: data.items, config: lc, outDir: scratch, device: setup.device, processGroup: pg, log: ctx.log });
    leaveGroup(pg);
  } catch (e) {
    say(`failed: ${(e as Error).message}`);
    throw e;
  } finally {
    ctx?.open.cache?.close();
    ctx?.open.predictions?.close();
    ctx?.close();
    if (pg && !pg.isDestroyed) pg.destroy();
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/** Rank 0 joins the group in INITIALIZING (a failure there ends the run FAILED, and the other ranks with it). */
export function joinAsRankZero(ctx: RunContext, setup: RankSetup): void {
  const r = setup.rendezvous;
  ctx.log(`rank 0 of ${r.worldSize}: waiting for the other ranks at ${r.masterAddr}:${r.masterPort}`);
  ctx.pg = joinGroup(setup);
  ctx.log(`${r.worldSize} ranks joined; this rank trains and embeds on ${setup.device} with ${setup.threads} thread(s)`);
}

/** Rank 0's decisions, sent to the other ranks. */
export function rankPlanOf(ctx: RunContext, start: StartingPoint): RankPlan {
  const wc = ctx.config.worker_config;
  return {
    train: wc.enable_training, startFrom: start.checkpoint?.path ?? start.pretrained?.path ?? null,
    resumeFrom: start.resumeFrom ?? null, embed: !wc.embeddings,
  };
}
