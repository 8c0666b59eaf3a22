// `winnow run`: the whole job on one machine, as a Lightly worker run does it. A folder of images in;
// the resolved config, the corrupt/duplicate lists, a checkpoint (training runs), the embeddings,
// the selection and a report out, in one output folder, with a record in the local runs index.
//
// States (Lightly's): INITIALIZING → LOADING_DATASET → CHECKING_CORRUPTNESS → [TRAINING] → EMBEDDING
// → SAMPLING → SAVING_RESULTS → GENERATING_REPORT → COMPLETED | FAILED | ABORTED. The record is
// rewritten at every change. Every file is written atomically, and report.json/report.html are
// written only once everything else is in place, so a FAILED or ABORTED folder never looks complete.
//
// Training runs in a worker thread (src/ssl/train-worker.ts) so progress output and Ctrl-C stay
// live; embedding and selection run on this thread afterwards.
import * as fs from "node:fs";
import * as path from "node:path";
import YAML from "yaml";
import { readRunConfigFile, resolveRunConfig, RunConfigError, type RunConfig, type RunOverrides } from "../config/run-config.js";
import { prepareImages, embedImages, readEmbeddings, embeddingsCsvHeader, embeddingsCsvRows, l2NormalizeRows } from "../pipeline/index.js";
import { trainInWorker, type WorkerTrainResult } from "../ssl/index.js";
import * as torch from "../torch/index.js";
import { ProgressPrinter, formatDuration, type ProgressStream } from "../util/progress.js";
import { countProgress, trainingProgress, type LiveProgress } from "./live-progress.js";
import type { ImageCache } from "../data/index.js";
import { RUN_STATES, END_STATES, type RunState } from "./states.js";
import { localResumeSource } from "./resume.js";
import { placeResumeCheckpoint } from "./resume-checkpoint.js";
import { withSourceModel } from "./source-model.js";
import { createOutputFolder } from "./output-folder.js";
import { saveRunRecord, newRunId, winnowHome, RUN_RECORD_FORMAT, type RunRecord } from "./store.js";
import { isPretrainedBackbone, pretrainedBackbone } from "../models/pretrained.js";
import { resolveWeightsFile } from "../models/weights/resolve.js";
import { resolveCheckpoint, datapoolRuns } from "./checkpoint-source.js";
import { provenanceOf, zooStart } from "./pretrained.js";
import { readEmbeddingsCsv } from "./embeddings-csv.js";
import { resolvePolicyPath, type RunPolicy } from "./policy.js";
import { selectStep } from "./select-step.js";
import { checkSelectionSources, loadSelectionMetadata, readRelevantFilenames } from "./selection-sources.js";
import { parseCropName } from "../predictions/index.js";
import { writeReport, type RunReport } from "./report.js";
import { writeTextAtomic, linesText } from "./files.js";
import { CountProgress } from "./progress.js";
import { objectLevelPlan } from "../config/object-level.js";
import { predictionsDirFor, checkTasksListed, RunPredictions, writePredictionIssues, malformedFiles, imagesOfCrops, writeSelectedCrops, selectedCropsOf, type TaskIssues } from "./object-level.js";
import type { CropInfo } from "../predictions/index.js";

export interface RunOptions {
  /** Folder of images (a resumed local run takes its source run's; given, it must be the same folder). */
  input?: string;
  /** A run config object as in the run file ({ worker_config, selection_config, lightly_config }); checked here. */
  config?: unknown;
  /** Or a run file (YAML or JSON). */
  configFile?: string;
  /** Flags on top of the config. */
  overrides?: RunOverrides;
  /** Output folder (must not exist or be empty). Default ./winnow-runs/<run id>. */
  output?: string;
  /** Human-readable progress (default process.stderr; null = silent; the log file is always written). */
  stream?: ProgressStream | null;
  /** Aborts the run (training stops after its current step and keeps a checkpoint). */
  signal?: AbortSignal;
  /** Structured progress (training steps, decoding and embedding counts), for the service's live view. */
  onProgress?: (p: LiveProgress) => void;
  /** Folder of the decode cache. Default $WINNOW_HOME/cache. */
  cacheDir?: string;
  /**
   * Where Lightly's predictions are: a folder holding `.lightly/predictions/` (Lightly's "Lightly
   * datasource"), or the predictions folder itself (with tasks.json). Default: the input folder.
   */
  lightlyPath?: string;
  /**
   * The config is untrusted (a worker job): its paths and URLs must pass this policy, relative
   * paths resolve against the input folder (src/run/policy.ts). None for the user's own `winnow run`.
   */
  policy?: RunPolicy;
  /**
   * Continue an interrupted training (src/run/resume.ts): the id of a local run (its input, config
   * and last.ckpt are taken; only `overrides.epochs`/`device` may be given), or a checkpoint with
   * resume state (path or URL; the service's automatic resume) with the run it came from.
   */
  resume?: string | { runId: string; checkpoint: string };
  /** Ends the run record at once (ABORTED, checkpoint on disk recorded) before the caller exits: a second Ctrl-C. */
  hardStop?: AbortSignal;
  /** Tags by name (filenames) for SIMILARITY's tag_name, besides earlier local runs' ids. */
  tags?: Record<string, string[]>;
}

/** Where a run's files are. */
export interface RunPaths {
  output: string;
  config: string;
  log: string;
  embeddings: string;
  selectedEmbeddings: string;
  selectedFilenames: string;
  /** Crop selection only: the selected crops (csv; .json beside it). */
  selectedCrops: string;
  /** Runs that read predictions: problems per task (json) and the files skipped whole (txt). */
  predictionIssues: string;
  malformedPredictionFiles: string;
  corruptFilenames: string;
  duplicateFilenames: string;
  checkpoints: string;
  reportHtml: string;
  reportJson: string;
  record: string;
}

export interface RunResult {
  record: RunRecord;
  paths: RunPaths;
  report: RunReport;
}

/** A run that ended FAILED or ABORTED; `record` is what the index holds. */
export class RunError extends Error {
  constructor(message: string, readonly record: RunRecord, readonly paths: RunPaths, override readonly cause?: unknown) {
    super(message);
    this.name = "RunError";
  }
}

class Aborted extends Error {}

export function runPaths(output: string): RunPaths {
  return {
    output,
    config: path.join(output, "config"),
    log: path.join(output, "log.txt"),
    embeddings: path.join(output, "data", "embeddings.csv"),
    selectedEmbeddings: path.join(output, "data", "selected_embeddings.csv"),
    selectedFilenames: path.join(output, "filenames", "selected_filenames.txt"),
    selectedCrops: path.join(output, "data", "selected_crops.csv"),
    predictionIssues: path.join(output, "data", "prediction_issues.json"),
    malformedPredictionFiles: path.join(output, "filenames", "malformed_prediction_files.txt"),
    corruptFilenames: path.join(output, "filenames", "corrupt_filenames.txt"),
    duplicateFilenames: path.join(output, "filenames", "duplicate_filenames.txt"),
    checkpoints: path.join(output, "checkpoints"),
    reportHtml: path.join(output, "report.html"),
    reportJson: path.join(output, "report.json"),
    record: path.join(output, "run.json"),
  };
}

function readLines(file: string): string[] {
  return fs.readFileSync(file, "utf8").split("\n").filter((l) => l.length > 0);
}

/** Runs the whole job. Config problems throw RunConfigError before anything is written. */
export async function run(opts: RunOptions): Promise<RunResult> {
  // Config first: a bad config never becomes a run.
  const local = typeof opts.resume === "string" ? localResumeSource(opts.resume, opts) : null;
  const resume = local ? { runId: local.record.id, checkpoint: local.checkpoint } : typeof opts.resume === "object" ? opts.resume : null;
  const source = local
    ? { raw: local.config as unknown, line: null }
    : withSourceModel(opts.configFile ? readRunConfigFile(opts.configFile) : opts.config ?? {}, opts.overrides);
  const config: RunConfig = resolveRunConfig(source.raw, opts.overrides ?? {}, opts.configFile ?? null);
  const inputGiven = local ? local.record.input : opts.input;
  if (inputGiven === undefined) throw new RunConfigError([{ path: "input", message: "no input folder given" }]);
  const wc = config.worker_config;
  const lc = config.lightly_config;
  // Checked by resolveRunConfig already: which tasks are read, and whether crops are selected/trained on.
  const plan = objectLevelPlan(wc, config.selection_config).plan!;

  const id = newRunId();
  const output = path.resolve(opts.output ?? path.join("winnow-runs", id));
  createOutputFolder(output);
  const paths = runPaths(output);
  let inputReal = path.resolve(inputGiven);
  try {
    inputReal = fs.realpathSync(inputGiven);
  } catch {
    /* reported below, as the run's failure */
  }

  // ---- log and record ----
  const stream = opts.stream === undefined ? process.stderr : opts.stream;
  const printer = stream ? new ProgressPrinter({ stream }) : null;
  const logFd = fs.openSync(paths.log, "a");
  const t0 = Date.now();
  const log = (msg: string, echo = true): void => {
    const stamp = new Date().toISOString();
    for (const line of msg.split("\n")) fs.writeSync(logFd, `${stamp} ${line}\n`);
    if (echo) printer?.line(msg);
  };
  const notes: string[] = [];
  const note = (m: string): void => {
    notes.push(m);
    log(`note: ${m}`);
  };
  const record: RunRecord = {
    format: RUN_RECORD_FORMAT, id, state: "INITIALIZING", input: inputReal, output, configFile: opts.configFile ? path.resolve(opts.configFile) : null,
    startedAt: new Date(t0).toISOString(), endedAt: null, durationMs: null, stages: [], checkpoint: null, trained: false, weights: null, startingWeights: null,
    useDatapool: wc.use_datapool, datapoolUpdate: wc.use_datapool && wc.datasource.enable_datapool_update,
    selectedCount: null, datapoolCount: null, error: null, pid: process.pid, resumedFrom: resume?.runId ?? null,
  };
  let stageT0 = performance.now();
  const enter = (state: RunState): void => {
    if (opts.signal?.aborted) throw new Aborted("aborted");
    const now = performance.now();
    const prev = record.stages[record.stages.length - 1];
    if (prev) prev.durationMs = Math.round(now - stageT0);
    stageT0 = now;
    record.state = state;
    if (!["COMPLETED", "FAILED", "ABORTED"].includes(state)) record.stages.push({ state, startedAt: new Date().toISOString(), durationMs: null });
    saveRunRecord(record);
    log(`[${RUN_STATES.indexOf(state) + 1}/${RUN_STATES.length - 2}] ${state}`);
  };

  // Counted stages' structured progress: the clock starts at each stage's first report.
  let liveT0 = { key: "", at: 0 };
  const live = (what: string, done: number, total: number): void => {
    if (!opts.onProgress) return;
    const key = `${record.state}:${what}`;
    if (liveT0.key !== key) liveT0 = { key, at: performance.now() };
    opts.onProgress(countProgress(record.state, what, liveT0.at, done, total));
  };

  let cache: ImageCache | null = null;
  let preds: RunPredictions | null = null;
  let trainHandle: ReturnType<typeof trainInWorker> | null = null;
  const onAbort = (): void => trainHandle?.abort();
  opts.signal?.addEventListener("abort", onAbort);
  // The caller exits right after this (a second Ctrl-C): the record ends now, with the checkpoint the
  // trainer last wrote (atomically, so it is whole), instead of staying in its state forever.
  const ckptDir = lc.checkpoint_callback.dirpath ? path.resolve(lc.checkpoint_callback.dirpath) : paths.checkpoints;
  const onHardStop = (): void => {
    if (END_STATES.has(record.state)) return;
    const last = path.join(ckptDir, "last.ckpt");
    if (!record.checkpoint && record.state === "TRAINING" && fs.existsSync(last)) record.checkpoint = last;
    record.state = "ABORTED";
    record.error = `stopped at once in ${record.stages[record.stages.length - 1]?.state ?? "INITIALIZING"} (second Ctrl-C); checkpoint ${record.checkpoint ?? "none"}`;
    record.endedAt = new Date().toISOString();
    record.durationMs = Date.now() - t0;
    fs.rmSync(paths.reportJson, { force: true });
    fs.rmSync(paths.reportHtml, { force: true });
    log(`ABORTED: ${record.error}`, false);
    saveRunRecord(record);
  };
  opts.hardStop?.addEventListener("abort", onHardStop);
  try {
    enter("INITIALIZING");
    log(`run ${id}: input ${inputReal}, output ${output}`);
    fs.mkdirSync(paths.config, { recursive: true });
    writeTextAtomic(path.join(paths.config, "run.yaml"), YAML.stringify(config));
    writeTextAtomic(path.join(paths.config, "worker_config.json"), `${JSON.stringify(wc, null, 2)}\n`);
    writeTextAtomic(path.join(paths.config, "selection_config.json"), `${JSON.stringify(config.selection_config, null, 2)}\n`);
    writeTextAtomic(path.join(paths.config, "lightly_config.json"), `${JSON.stringify(lc, null, 2)}\n`);
    if (wc.num_threads >= 1) torch.setNumThreads(wc.num_threads);
    const device = opts.overrides?.device;

    let st: fs.Stats | null = null;
    try {
      st = fs.statSync(inputReal);
    } catch {
      st = null;
    }
    if (!st?.isDirectory()) throw new Error(`input ${inputGiven}: ${st ? "not a folder" : "no such folder"}`);
    if (source.line) log(source.line);
    // Metadata, tags and prediction tasks the selection names: checked now, not after training.
    const selSources = checkSelectionSources(config.selection_config, {
      input: inputReal, lightlyPath: opts.lightlyPath, predictionsDir: plan.tasks.length ? predictionsDirFor(inputReal, opts.lightlyPath) : null, tags: opts.tags,
    });
    const relevant = readRelevantFilenames(wc.relevant_filenames_file, { input: inputReal, lightlyPath: opts.lightlyPath, policy: opts.policy });
    if (relevant) log(`relevant_filenames_file: selecting among ${relevant.length} listed file(s)`);

    // Earlier datapool runs and the checkpoint to start from (resolved before the slow stages, so
    // a bad URL or run id fails at once).
    const pool = wc.use_datapool ? datapoolRuns(inputReal) : [];
    // A resumed run continues its own checkpoint; the one its config started from is not fetched again.
    const ckpt0 = resume ? null : await resolveCheckpoint(
      { checkpoint: wc.checkpoint, checkpointRunId: wc.checkpoint_run_id, datapool: wc.embeddings ? [] : pool },
      paths.checkpoints, { log, policy: opts.policy, base: inputReal },
    );
    if (ckpt0) log(`checkpoint: ${ckpt0.path} (${ckpt0.origin})`);
    // Starting weights, in order: a checkpoint source, the resumed run, custom embeddings (no model), a
    // pretrained backbone's publisher file (torchvision/…, dinov2/…), Lightly's zoo (pre_trained), random.
    // Files are found or downloaded now, before decoding, so a missing one fails at once.
    let ckpt = ckpt0;
    let pretrained: Awaited<ReturnType<typeof resolveWeightsFile>> | null = null;
    const download = (what: string) => {
      const bar = new CountProgress(`downloading ${what} (KiB)`, stream);
      return { bar, onProgress: (b: number, t: number) => bar.update(Math.floor(b / 1024), Math.ceil(Math.max(t, b) / 1024)) };
    };
    if (ckpt0) record.startingWeights = provenanceOf(ckpt0);
    else if (resume) record.startingWeights = { kind: "resume", runId: resume.runId, path: resume.checkpoint };
    else if (wc.embeddings) record.startingWeights = { kind: "custom-embeddings" };
    else if (isPretrainedBackbone(lc.model.name) && lc.pre_trained) {
      const { bar, onProgress } = download(`${lc.model.name} weights`);
      pretrained = await resolveWeightsFile(pretrainedBackbone(lc.model.name).weights, {
        log, signal: opts.signal, onProgress, hint: "or set lightly_config.pre_trained: false to run without it (random initial weights)",
      });
      bar.done();
      record.startingWeights = { kind: "backbone", backbone: lc.model.name, sha256: pretrained.sha256, foundIn: pretrained.source, path: pretrained.path };
    } else if (lc.pre_trained && !isPretrainedBackbone(lc.model.name)) {
      const { bar, onProgress } = download("pretrained weights");
      const z = await zooStart(lc, paths.checkpoints, { log, signal: opts.signal, onProgress });
      bar.done();
      ckpt = z.ckpt;
      record.startingWeights = z.weights;
      for (const n of z.notes) note(n);
    } else record.startingWeights = { kind: "random" };
    saveRunRecord(record);
    const pretrainedLabel = pretrained ? `pretrained ${lc.model.name} (${path.basename(pretrained.path)}, sha256 ${pretrained.sha256.slice(0, 12)})` : null;
    const embeddingsFile = !wc.embeddings ? "" : opts.policy ? resolvePolicyPath(wc.embeddings, "worker_config.embeddings", opts.policy, inputReal) : path.resolve(wc.embeddings);
    const resumeFrom = resume ? await placeResumeCheckpoint(resume, ckptDir, wc.enable_training, log) : null;

    // ---- LOADING_DATASET ----
    enter("LOADING_DATASET");
    const decodeBar = new CountProgress("decoding", stream);
    cache = await prepareImages(inputReal, {
      cacheDir: opts.cacheDir ?? path.join(winnowHome(), "cache"), config: lc, removeExactDuplicates: wc.remove_exact_duplicates,
      onProgress: (d, t) => (decodeBar.update(d, t), live("decoding", d, t)), log,
    });
    decodeBar.done();
    if (wc.training.task_name && !wc.enable_training) note(`worker_config.training.task_name ${JSON.stringify(wc.training.task_name)} has no effect: enable_training is false`);

    // Predictions and object crops (src/run/object-level.ts): crop caches of the crop tasks, values of the others.
    let itemCache: ImageCache = cache;
    let trainCache: ImageCache = cache;
    let predictionIssues: TaskIssues[] = [];
    if (plan.tasks.length) {
      const dir = predictionsDirFor(inputReal, opts.lightlyPath);
      const why = (t: string): string =>
        t === plan.selectTask ? "selection_config (crop selection)" : t === plan.trainTask ? "worker_config.training.task_name" : "selection_config (SCORES/PREDICTIONS input)";
      checkTasksListed(dir, plan.tasks, why);
      log(`predictions: ${dir} (task${plan.tasks.length === 1 ? "" : "s"} ${plan.tasks.join(", ")})`);
      preds = new RunPredictions(dir, wc.object_level.padding);
      const prepOpts = { cacheDir: opts.cacheDir ?? path.join(winnowHome(), "cache"), config: lc, removeExactDuplicates: wc.remove_exact_duplicates, log };
      for (const task of [plan.selectTask, plan.trainTask]) {
        if (!task || preds.crops.has(task)) continue;
        const bar = new CountProgress(`cropping ${task}`, stream);
        await preds.cropCache(inputReal, task, { ...prepOpts, onProgress: (dn, t) => bar.update(dn, t) });
        bar.done();
      }
      for (const task of plan.valueTasks) preds.imagePredictions(task, cache.filenames, log);
      if (plan.selectTask) itemCache = preds.crops.get(plan.selectTask)!;
      if (plan.trainTask) trainCache = preds.crops.get(plan.trainTask)!;
      predictionIssues = preds.issues(cache.filenames);
    }

    // ---- CHECKING_CORRUPTNESS ----
    enter("CHECKING_CORRUPTNESS");
    const corrupt = cache.corruptFilenames;
    const duplicates = cache.duplicates;
    writeTextAtomic(paths.corruptFilenames, linesText(corrupt.map((c) => c.filename)));
    writeTextAtomic(paths.duplicateFilenames, linesText(duplicates.map((d) => d.filename)));
    writeTextAtomic(path.join(output, "data", "corruptness_check_information.json"),
      `${JSON.stringify({ corrupt_samples: Object.fromEntries(corrupt.map((c) => [c.filename, `${c.code}: ${c.reason}`])) }, null, 2)}\n`);
    log(`${cache.length} usable images, ${corrupt.length} corrupt, ${duplicates.length} exact duplicate(s)`);
    if (cache.refused.length) note(`${cache.refused.length} entr${cache.refused.length === 1 ? "y" : "ies"} refused by the folder listing (symlinks, special files, bad names): ${cache.refused.slice(0, 3).map((r) => r.filename).join(", ")}`);
    if (cache.length === 0) throw new Error(`input ${inputReal}: no usable images (${cache.stats.files} image file(s), ${corrupt.length} corrupt)`);
    if (preds) {
      writePredictionIssues(output, preds.dir, predictionIssues);
      for (const t of predictionIssues) {
        const bad = malformedFiles([t]).length;
        log(`predictions "${t.task}": ${t.predictionFiles} file(s) read, ${t.missing} usable image(s) without one, ${t.issues.length} issue(s)${bad ? ` (${bad} malformed file(s) skipped)` : ""}` +
          `${preds.crops.has(t.task) ? `; ${preds.crops.get(t.task)!.length} crop(s), ${t.skippedCrops.length} skipped` : ""}`);
      }
      const bad = malformedFiles(predictionIssues);
      if (bad.length) note(`${bad.length} malformed prediction file(s) skipped (listed in filenames/malformed_prediction_files.txt): ${bad.slice(0, 3).join(", ")}${bad.length > 3 ? ", …" : ""}`);
    }
    for (const [task, c] of [[plan.selectTask, itemCache], [plan.trainTask, trainCache]] as const) {
      if (task && c.length === 0) throw new Error(`task "${task}": no usable object crops (every prediction file missing, malformed or without boxes inside its image; see ${paths.predictionIssues})`);
    }

    // ---- TRAINING ----
    let training: WorkerTrainResult | null = null;
    let embedCheckpoint: string | null = ckpt?.path ?? pretrained?.path ?? null;
    record.weights = wc.embeddings ? "custom-embeddings" : ckpt ? (ckpt.origin === "path" ? "checkpoint" : ckpt.origin) : resume ? `resume:${resume.runId}` : pretrainedLabel ?? "random-init";
    if (wc.enable_training) {
      enter("TRAINING");
      const handle = trainInWorker({
        cacheDir: trainCache.dir, removeExactDuplicates: wc.remove_exact_duplicates, config: lc, outDir: paths.checkpoints,
        device, startFrom: ckpt?.path ?? pretrained?.path, resumeFrom: resumeFrom ?? undefined, numThreads: wc.num_threads >= 1 ? wc.num_threads : undefined,
        onProgress: (p) => (printer?.update(p), opts.onProgress?.(trainingProgress(record.state, p))),
        onEpochEnd: (e) => {
          printer?.epoch(e);
          log(`epoch ${e.epoch + 1}/${e.epochs}: loss ${e.loss.toFixed(4)}, ${e.imagesPerSecond.toFixed(1)} img/s, ${formatDuration(e.seconds)}`, false);
        },
        log,
      });
      trainHandle = handle;
      if (opts.signal?.aborted) handle.abort();
      training = await handle.result;
      trainHandle = null;
      printer?.done();
      if (training.aborted || opts.signal?.aborted) {
        record.checkpoint = training.lastCheckpoint;
        throw new Aborted(`aborted during training (checkpoint ${training.lastCheckpoint ?? "none"})`);
      }
      for (const n of training.notes) notes.push(n);
      if (!training.checkpoint) {
        throw new Error("training kept no checkpoint (lightly_config.checkpoint_callback: save_last false and save_top_k 0): the run needs one to embed with");
      }
      embedCheckpoint = training.checkpoint;
      record.checkpoint = training.checkpoint;
      record.trained = true;
      record.weights = ckpt ? `trained from ${ckpt.origin === "path" ? "checkpoint" : ckpt.origin}` : resume ? `trained (resumed run ${resume.runId})` : pretrainedLabel ? `trained from ${pretrainedLabel}` : "trained";
      saveRunRecord(record);
    } else if (ckpt) {
      record.checkpoint = ckpt.path;
    }

    // ---- EMBEDDING ----
    enter("EMBEDDING");
    if (plan.trainTask) log(`trained on ${trainCache.length} object crops of task "${plan.trainTask}"`);
    let filenames = itemCache.filenames;
    let values: Float32Array;
    let d: number;
    let embedSource: string;
    if (wc.embeddings) {
      const custom = readEmbeddingsCsv(embeddingsFile);
      const row = new Map(custom.filenames.map((f, i) => [f, i]));
      const missing = filenames.filter((f) => !row.has(f));
      if (missing.length) {
        throw new Error(`worker_config.embeddings: ${wc.embeddings} has no row for ${missing.length} of the ${filenames.length} usable ${plan.selectTask ? `crops of task "${plan.selectTask}" (rows are named <image>#<prediction index>)` : "images"} (e.g. ${missing.slice(0, 3).map((m) => JSON.stringify(m)).join(", ")}); every usable image needs one`);
      }
      const extra = custom.filenames.length - filenames.length;
      if (extra > 0) note(`worker_config.embeddings: ${extra} row(s) for files that are not usable images of the input (ignored)`);
      d = custom.d;
      values = new Float32Array(filenames.length * d);
      filenames.forEach((f, i) => values.set(custom.values.subarray(row.get(f)! * d, (row.get(f)! + 1) * d), i * d));
      writeTextAtomic(paths.embeddings, embeddingsCsvHeader(d) + embeddingsCsvRows(filenames, values, d));
      embedSource = `custom embeddings ${embeddingsFile}`;
      log(`embeddings: ${filenames.length} × ${d} from ${wc.embeddings}`);
    } else {
      const bar = new CountProgress("embedding", stream);
      const e = embedImages({
        cache: itemCache, config: lc, outDir: path.dirname(paths.embeddings), checkpoint: embedCheckpoint ?? undefined, device,
        onProgress: (dn, t) => (bar.update(dn, t), live("embedding", dn, t)), log,
      });
      bar.done();
      for (const n of e.notes) if (!notes.includes(n)) notes.push(n);
      const read = readEmbeddings(e.metaPath!);
      values = read.values;
      d = read.meta.d;
      filenames = read.meta.filenames;
      embedSource = e.weights === "random-init" ? "randomly initialised weights" : training ? "the model trained in this run" : `checkpoint (${record.weights})`;
    }

    // ---- SAMPLING ----
    enter("SAMPLING");
    const present = new Set(filenames);
    let datapoolBefore: string[] = [];
    if (wc.use_datapool) {
      const seen = new Set<string>();
      for (const r of pool) {
        // Crop selection: the datapool is the crops earlier crop selections of this task picked.
        if (plan.selectTask) {
          const names = selectedCropsOf(r.output, plan.selectTask);
          if (names) for (const name of names) seen.add(name);
          else note(`datapool: run ${r.id} selected no crops of task "${plan.selectTask}"; its samples are not counted`);
          continue;
        }
        const f = runPaths(r.output).selectedFilenames;
        if (!fs.existsSync(f)) {
          note(`datapool: the selection of run ${r.id} is gone (${f}); its samples are not counted`);
          continue;
        }
        for (const name of readLines(f)) seen.add(name);
      }
      datapoolBefore = [...seen].filter((f) => present.has(f));
      if (seen.size > datapoolBefore.length) note(`datapool: ${seen.size - datapoolBefore.length} earlier selected file(s) are no longer usable images of the input`);
      log(`datapool: ${datapoolBefore.length} sample(s) selected by ${pool.length} earlier run(s)`);
    }
    const predValues = preds ? preds.selectionValues(plan.valueTasks, filenames, plan.selectTask, log) : null;
    const md = await loadSelectionMetadata(selSources, inputReal, filenames);
    if (md.issues.length) {
      writeTextAtomic(path.join(output, "data", "metadata_issues.json"), `${JSON.stringify(md.issues, null, 2)}\n`);
      note(`${md.issues.length} metadata file problem(s) (data/metadata_issues.json): ${md.issues.slice(0, 3).map((x) => `${x.file} ${x.code}`).join(", ")}${md.issues.length > 3 ? ", …" : ""}`);
    }
    // relevant_filenames_file: only items of listed images may be picked (crops by their image).
    const relevantSet = relevant ? new Set(relevant) : null;
    const only = relevantSet ? new Set(filenames.filter((f) => relevantSet.has(parseCropName(f)?.image ?? f))) : undefined;
    if (relevantSet && only) {
      const usable = new Set(filenames.map((f) => parseCropName(f)?.image ?? f));
      const absent = relevant!.filter((f) => !usable.has(f));
      if (absent.length) note(`relevant_filenames_file: ${absent.length} listed file(s) are not usable images of the input (e.g. ${absent.slice(0, 3).join(", ")})`);
    }
    const sel = selectStep(config.selection_config, filenames, values, d, {
      normalize: wc.normalize_embeddings, datapool: datapoolBefore, device, values: { ...predValues, metadata: md.metadata }, tags: selSources.tags, only,
    });
    const index = new Map(filenames.map((f, i) => [f, i]));
    const poolSet = new Set(datapoolBefore);
    const picked = sel.selected.filter((i) => !poolSet.has(filenames[i]!));
    if (picked.length !== sel.selected.length) throw new Error("selection returned datapool samples as new picks (internal error)");
    // Crop selection: each pick is a crop; the images that hold them are the selected filenames.
    const cropOf = predValues?.crops ? new Map(predValues.crops.map((c) => [c.filename, c])) : null;
    const pickedCrops: CropInfo[] | null = cropOf ? picked.map((i) => cropOf.get(filenames[i]!)!) : null;
    const pickedImages = pickedCrops ? imagesOfCrops(pickedCrops) : picked.map((i) => filenames[i]!);
    log(pickedCrops
      ? `selected ${picked.length} crop(s) of task "${plan.selectTask}" in ${pickedImages.length} image(s) (stopped by: ${sel.stoppedBy})`
      : `selected ${picked.length} sample(s) (stopped by: ${sel.stoppedBy})`);

    // ---- SAVING_RESULTS ----
    enter("SAVING_RESULTS");
    const pickedNames = picked.map((i) => filenames[i]!);
    writeTextAtomic(paths.selectedFilenames, linesText(pickedImages));
    if (pickedCrops) writeSelectedCrops(output, plan.selectTask!, wc.object_level.padding, pickedCrops);
    const rowsOf = (idx: number[]): string => {
      const v = new Float32Array(idx.length * d);
      idx.forEach((i, k) => v.set(values.subarray(i * d, (i + 1) * d), k * d));
      return embeddingsCsvRows(idx.map((i) => filenames[i]!), v, d);
    };
    writeTextAtomic(paths.selectedEmbeddings, embeddingsCsvHeader(d) + rowsOf(picked));
    const poolIdx = datapoolBefore.map((f) => index.get(f)!);
    if (wc.use_datapool) {
      const poolImages = cropOf ? imagesOfCrops(datapoolBefore.map((f) => cropOf.get(f)!)) : datapoolBefore;
      writeTextAtomic(path.join(output, "filenames", "selected_filenames_including_datapool.txt"), linesText([...new Set([...poolImages, ...pickedImages])]));
      writeTextAtomic(path.join(output, "data", "selected_embeddings_including_datapool.csv"), embeddingsCsvHeader(d) + rowsOf([...poolIdx, ...picked]));
    }
    record.selectedCount = picked.length;
    record.datapoolCount = wc.use_datapool ? datapoolBefore.length + picked.length : null;

    // ---- GENERATING_REPORT ----
    enter("GENERATING_REPORT");
    const endedAt = new Date().toISOString();
    const last = record.stages[record.stages.length - 1];
    const stages = record.stages.map((s) => (s === last ? { ...s, durationMs: Math.round(performance.now() - stageT0) } : s));
    const report = await writeReport({
      runId: id, input: inputReal, output, startedAt: record.startedAt, endedAt, durationMs: Date.now() - t0, stages, config,
      counts: {
        files: cache.stats.files, images: cache.length, corrupt: corrupt.length, duplicates: duplicates.length, embedded: filenames.length,
        selected: picked.length, datapoolBefore: datapoolBefore.length, datapoolAfter: datapoolBefore.length + picked.length,
      },
      training: training ? {
        epochs: training.epochsCompleted, epochLosses: training.epochLosses, stepLosses: training.stepLosses, checkpoint: training.checkpoint,
        startedFrom: training.startedFrom, imagesPerSecond: training.imagesPerSecond, device: training.device, durationMs: training.durationMs,
      } : null,
      embedding: { n: filenames.length, d, weights: record.weights ?? "", checkpoint: wc.embeddings ? null : embedCheckpoint, source: embedSource, startingWeights: record.startingWeights ?? null },
      selection: { filenames: pickedNames, stoppedBy: sel.stoppedBy, datapoolFilenames: datapoolBefore },
      objects: preds ? {
        predictionsDir: preds.dir, selectTask: plan.selectTask, trainTask: plan.trainTask, valueTasks: plan.valueTasks, padding: wc.object_level.padding,
        crops: plan.selectTask ? filenames.length : null, selectedCrops: pickedCrops, selectedImages: pickedImages, issues: predictionIssues,
      } : null,
      corrupt, duplicates, notes, filenames, values: wc.normalize_embeddings ? l2NormalizeRows(values, d) : values, d,
      selectedIdx: picked, datapoolIdx: poolIdx,
    });

    enter("COMPLETED");
    record.endedAt = new Date().toISOString();
    record.durationMs = Date.now() - t0;
    saveRunRecord(record);
    log(`COMPLETED in ${formatDuration(record.durationMs / 1000)}: ${pickedCrops ? `${picked.length} crop(s) selected → ${paths.selectedCrops}, their ${pickedImages.length} image(s)` : `${picked.length} selected`} → ${paths.selectedFilenames}\nreport: ${paths.reportHtml}`);
    return { record, paths, report };
  } catch (e) {
    const aborted = e instanceof Aborted || Boolean(opts.signal?.aborted);
    const now = performance.now();
    const prev = record.stages[record.stages.length - 1];
    if (prev && prev.durationMs === null) prev.durationMs = Math.round(now - stageT0);
    record.state = aborted ? "ABORTED" : "FAILED";
    record.error = (e as Error).message;
    record.endedAt = new Date().toISOString();
    record.durationMs = Date.now() - t0;
    // Nothing that looks complete may stay behind.
    fs.rmSync(paths.reportJson, { force: true });
    fs.rmSync(paths.reportHtml, { force: true });
    printer?.done();
    log(`${record.state}: ${record.error}`);
    saveRunRecord(record);
    throw new RunError(`run ${id} ${record.state}: ${record.error}`, record, paths, e);
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
    opts.hardStop?.removeEventListener("abort", onHardStop);
    trainHandle?.abort();
    cache?.close();
    preds?.close();
    fs.closeSync(logFd);
  }
}
