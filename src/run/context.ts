// The one object every stage of a run works on: the resolved config, the run folder's paths, the
// log and notes, progress, the run record and the abort signal. Built once by `run()` (or by a test
// on a tiny folder); stages read it and add to it, nothing else carries state between them.
import * as fs from "node:fs";
import * as path from "node:path";
import type { RunConfig, RunOverrides } from "../config/run-config.js";
import type { ObjectLevelPlan } from "../config/object-level.js";
import type { ImageCache } from "../data/index.js";
import type { trainInWorker } from "../ssl/index.js";
import type { ProcessGroup } from "../distributed/index.js";
import { ProgressPrinter, type ProgressStream } from "../util/progress.js";
import { WinnowError } from "../util/errors.js";
import { countProgress } from "./live-progress.js";
import type { RunPredictions } from "./object-level.js";
import type { RunOptions } from "./options.js";
import { runPaths, type RunPaths } from "./paths.js";
import { RUN_STATES, END_STATES, type RunState } from "./states.js";
import { saveRunRecord, RUN_RECORD_FORMAT, type RunRecord } from "./store.js";

/** The run stops here: the signal fired (the record ends ABORTED). */
export class Aborted extends WinnowError {
  constructor(message = "aborted") {
    super("aborted", message);
  }
}

/** The checkpoint a resumed run continues, and the run it came from. */
export interface ResumeFrom {
  runId: string;
  checkpoint: string;
}

export interface RunContext {
  readonly id: string;
  readonly config: RunConfig;
  /** Which prediction tasks are read, and whether crops are selected/trained on. */
  readonly plan: ObjectLevelPlan;
  readonly paths: RunPaths;
  /** Real path of the input folder (as given when it does not exist: INITIALIZING fails on it). */
  readonly input: string;
  readonly inputGiven: string;
  readonly resume: ResumeFrom | null;
  /** What withSourceModel says about the source model the config names; logged in INITIALIZING. */
  readonly sourceLine: string | null;
  readonly options: RunOptions;
  /** `overrides.device` (or this rank's device): forces the device of training, embedding and selection. */
  readonly device: RunOverrides["device"] | string;
  readonly stream: ProgressStream | null;
  readonly printer: ProgressPrinter | null;
  readonly signal: AbortSignal | undefined;
  readonly record: RunRecord;
  /** Notes for the report (also logged). */
  readonly notes: string[];
  /** Date.now() at the start. */
  readonly t0: number;
  /** Where the trainer writes checkpoints (lightly_config.checkpoint_callback.dirpath or checkpoints/). */
  readonly checkpointDir: string;
  /** performance.now() when the current state began. */
  stageT0: number;
  /** Open resources the run closes at its end, whatever stage it reached. */
  readonly open: { cache: ImageCache | null; predictions: RunPredictions | null; training: ReturnType<typeof trainInWorker> | null };
  /** The process group of a run over several ranks (this is rank 0), from INITIALIZING until embedding is done. */
  pg: ProcessGroup | null;
  log(msg: string, echo?: boolean): void;
  note(msg: string): void;
  /** Structured progress of a counted stage ("decoding", "embedding"); the clock starts at its first report. */
  live(what: string, done: number, total: number): void;
  /** Closes the log file. */
  close(): void;
}

export interface RunContextInit {
  id: string;
  config: RunConfig;
  plan: ObjectLevelPlan;
  output: string;
  input: string;
  inputGiven: string;
  resume: ResumeFrom | null;
  sourceLine?: string | null;
  options: RunOptions;
}

/** Opens the log (output/log.txt, appended) and makes the record (not saved yet: `enter` saves it). */
export function createRunContext(init: RunContextInit): RunContext {
  const { config, options: opts } = init;
  const paths = runPaths(init.output);
  const wc = config.worker_config;
  const stream = opts.stream === undefined ? process.stderr : opts.stream;
  const printer = stream ? new ProgressPrinter({ stream }) : null;
  const logFd = fs.openSync(paths.log, "a");
  const t0 = Date.now();
  const notes: string[] = [];
  const record: RunRecord = {
    format: RUN_RECORD_FORMAT, id: init.id, state: "INITIALIZING", input: init.input, output: init.output,
    configFile: opts.configFile ? path.resolve(opts.configFile) : null, startedAt: new Date(t0).toISOString(), endedAt: null, durationMs: null,
    stages: [], checkpoint: null, trained: false, weights: null, startingWeights: null,
    useDatapool: wc.use_datapool, datapoolUpdate: wc.use_datapool && wc.datasource.enable_datapool_update,
    selectedCount: null, datapoolCount: null, error: null, pid: process.pid, resumedFrom: init.resume?.runId ?? null,
  };
  let liveT0 = { key: "", at: 0 };
  const dirpath = config.lightly_config.checkpoint_callback.dirpath;
  const ctx: RunContext = {
    id: init.id, config, plan: init.plan, paths, input: init.input, inputGiven: init.inputGiven, resume: init.resume, sourceLine: init.sourceLine ?? null, options: opts,
    device: opts.ranks?.device ?? opts.overrides?.device, pg: null, stream, printer, signal: opts.signal, record, notes, t0, stageT0: performance.now(),
    checkpointDir: dirpath ? path.resolve(dirpath) : paths.checkpoints,
    open: { cache: null, predictions: null, training: null },
    log(msg, echo = true) {
      const stamp = new Date().toISOString();
      for (const line of msg.split("\n")) fs.writeSync(logFd, `${stamp} ${line}\n`);
      if (echo) printer?.line(msg);
    },
    note(msg) {
      notes.push(msg);
      ctx.log(`note: ${msg}`);
    },
    live(what, done, total) {
      if (!opts.onProgress) return;
      const key = `${record.state}:${what}`;
      if (liveT0.key !== key) liveT0 = { key, at: performance.now() };
      opts.onProgress(countProgress(record.state, what, liveT0.at, done, total));
    },
    close: () => fs.closeSync(logFd),
  };
  return ctx;
}

/** Closes the stage that ran until now (its duration) and starts `state`: record saved, state logged and reported. */
export function enterState(ctx: RunContext, state: RunState): void {
  if (ctx.signal?.aborted) throw new Aborted();
  const now = performance.now();
  const { record } = ctx;
  const prev = record.stages[record.stages.length - 1];
  if (prev) prev.durationMs = Math.round(now - ctx.stageT0);
  ctx.stageT0 = now;
  record.state = state;
  if (!END_STATES.has(state)) record.stages.push({ state, startedAt: new Date().toISOString(), durationMs: null });
  saveRunRecord(record);
  ctx.log(`[${RUN_STATES.indexOf(state) + 1}/${RUN_STATES.length - 2}] ${state}`);
  ctx.options.onState?.(state);
}
