// Training checkpoints: a model checkpoint (saveCheckpoint's layout, loadable by torch.load and lightly)
// plus what resuming needs, as top-level keys beside "state_dict":
//   epoch, global_step        Lightning's names (informational)
//   winnow_resume             the position and history as JSON (ResumeState, format RESUME_FORMAT)
//   winnow_optimizer.momentum_buffer.<parameter name>   SGD's momentum, one tensor per parameter
// The optimizer's state goes through Optimizer.stateDict()/loadStateDict(); only the naming of its
// entries (by parameter name rather than PyTorch's index) is done here, so a file stays readable
// after a model gains or reorders parameters.
import type { Tensor } from "../torch/index.js";
import type { Module, Optimizer, GroupOptions, ParamState } from "../nn/index.js";
import { readTorchFile, findStateDict, CheckpointError, isRawTensor, type RawTensor, type ExtraValue } from "../checkpoint/index.js";
import { saveCheckpoint, rawToTensor, tensorToWrite } from "./checkpoint.js";
import type { ModelConfig } from "./registry.js";

/** Format tag of the resume metadata stored in Winnow checkpoints. */
export const RESUME_FORMAT = "winnow-simclr-train/1";
/** Top-level checkpoint key holding the resume metadata (a JSON string). */
export const RESUME_KEY = "winnow_resume";
/** Top-level checkpoint key prefix of the SGD momentum buffers (one tensor per parameter name). */
export const MOMENTUM_PREFIX = "winnow_optimizer.momentum_buffer.";

/** The resume metadata (JSON under RESUME_KEY). `Config` is the trainer's config (lightly_config). */
export interface ResumeState<Config = unknown> {
  format: string;
  /** Epoch in progress (== epochsCompleted after a completed epoch). */
  epoch: number;
  /** Steps already done in `epoch`. */
  step: number;
  globalStep: number;
  epochsCompleted: number;
  seed: number;
  numImages: number;
  batchSize: number;
  stepsPerEpoch: number;
  epochLosses: number[];
  /** Losses of the steps done in the epoch in progress (abort mid-epoch). */
  partialStepLosses: number[];
  /** Top-k epoch checkpoints: file name (in the checkpoint folder) and mean loss. */
  best: Array<{ epoch: number; loss: number; file: string }>;
  modelConfig: ModelConfig;
  /** The config the run used. */
  config: Config;
  complete: boolean;
  /** Ranks of a data-parallel run (absent: 1); a resume on another count maps the position (src/ssl/loop-state.ts). */
  worldSize?: number;
}

/** A checkpoint's top level, state dict and (for Winnow-made ones) resume metadata. */
export interface CheckpointContents<Config = unknown> {
  top: Map<unknown, unknown>;
  stateDict: Map<string, RawTensor>;
  resume: ResumeState<Config> | null;
}

/** Reads any model checkpoint (PyTorch, Lightning, lightly, Winnow); never runs code from the file. */
export function readTrainingCheckpoint<Config = unknown>(file: string): CheckpointContents<Config> {
  let top: unknown;
  try {
    top = readTorchFile(file);
  } catch (e) {
    if (!(e instanceof CheckpointError) || e.code !== "UNKNOWN_GLOBAL") throw e;
    top = readTorchFile(file, { lenient: true }); // a Lightning .ckpt's hyper-parameters: dropped, never run
  }
  const stateDict = findStateDict(top);
  let resume: ResumeState<Config> | null = null;
  if (top instanceof Map && typeof top.get(RESUME_KEY) === "string") {
    try {
      const r = JSON.parse(top.get(RESUME_KEY) as string) as ResumeState<Config>;
      if (r.format === RESUME_FORMAT) resume = r;
    } catch {
      resume = null;
    }
  }
  return { top: top instanceof Map ? top : new Map(), stateDict, resume };
}

/** Parameter names in the optimizer's index order (the order of Optimizer.stateDict()'s indices). */
function optimizerParamNames(model: Module, opt: Optimizer<GroupOptions>): string[] {
  const nameOf = new Map<Tensor, string>();
  for (const [name, p] of model.namedParameters()) nameOf.set(p, name);
  return opt.paramGroups.flatMap((g) => g.params).map((p, i) => {
    const name = nameOf.get(p);
    if (name === undefined) throw new Error(`the optimizer's parameter ${i} is not a parameter of the model`);
    return name;
  });
}

/** Writes `model` and the optimizer's momentum buffers with the resume state (atomically). */
export function writeTrainingCheckpoint<Config>(model: Module, opt: Optimizer<GroupOptions>, file: string, state: ResumeState<Config>): void {
  const extra: Record<string, ExtraValue> = {
    epoch: state.epochsCompleted,
    global_step: state.globalStep,
    [RESUME_KEY]: JSON.stringify(state),
  };
  const names = optimizerParamNames(model, opt);
  const sd = opt.stateDict(); // copies: freed below
  try {
    names.forEach((name, i) => {
      const buf = sd.state.get(i)?.momentum_buffer;
      if (buf && typeof buf !== "number") extra[MOMENTUM_PREFIX + name] = tensorToWrite(buf);
    });
    saveCheckpoint(model, file, extra);
  } finally {
    for (const s of sd.state.values()) for (const v of Object.values(s)) if (typeof v !== "number") v.dispose();
  }
}

/**
 * Restores the momentum buffers a training checkpoint holds (`top`: readTrainingCheckpoint's) into
 * `opt`, on its parameters' devices; the optimizer's hyper-parameters are kept. Returns how many.
 */
export function loadOptimizerMomentum(model: Module, opt: Optimizer<GroupOptions>, top: Map<unknown, unknown>): number {
  const names = optimizerParamNames(model, opt);
  const state = new Map<number, ParamState>();
  try {
    names.forEach((name, i) => {
      const raw = top.get(MOMENTUM_PREFIX + name);
      if (isRawTensor(raw)) state.set(i, { momentum_buffer: rawToTensor(raw) });
    });
    let index = 0;
    const paramGroups = opt.paramGroups.map((g) => ({ ...g, params: g.params.map(() => index++) })); // its own hyper-parameters
    opt.loadStateDict({ state, paramGroups });
  } finally {
    for (const s of state.values()) (s.momentum_buffer as Tensor).dispose();
  }
  return state.size;
}
