// ApiWorkflowClient: the TypeScript twin of Lightly's Python ApiWorkflowClient for the Winnow
// service. Method names are camelCase twins of Lightly's; the configs keep Lightly's snake_case keys
// and the records Lightly's field names, so a Python example translates line by line. One idea over
// ~400 lines: the client's public surface, one thin method per API call, kept in one class as Lightly's is.
import type { WorkerConfigInput } from "../config/worker-config.js";
import type { SelectionConfigInput } from "../config/selection-config.js";
import type { LightlyConfigInput } from "../config/lightly-config.js";
import {
  RUN_END_STATES,
  type ArtifactData, type DatasetData, type Priority, type RunData, type RunState, type ScheduledRunData,
  type ScheduledState, type WorkerData,
} from "../db/records.js";
import type { EmbeddingMap, QueuedRunSummary, RunSummary, WorkerSummary } from "../db/records.js";
import type { TagData } from "../db/tags.js";
import { ApiHttp } from "./http.js";
import { ApiConflictError, ApiNotFoundError } from "./errors.js";

export interface ApiWorkflowClientOptions {
  /** The server, e.g. http://127.0.0.1:8470 (default $WINNOW_SERVER_URL). */
  url?: string;
  /** API token (default $WINNOW_TOKEN). */
  token?: string;
  datasetId?: string;
}

export interface ComputeWorkerConfigs {
  workerConfig?: WorkerConfigInput | Record<string, unknown> | null;
  selectionConfig?: SelectionConfigInput | Record<string, unknown> | null;
  lightlyConfig?: LightlyConfigInput | Record<string, unknown> | null;
}

export interface ScheduleOptions extends ComputeWorkerConfigs {
  priority?: Priority;
  runsOn?: string[];
}

/** Lightly's ComputeWorkerRunInfo: the run's state, or the scheduled run's before a worker took it. */
export class ComputeWorkerRunInfo {
  constructor(readonly state: RunState | "OPEN" | "CANCELED_OR_NOT_EXISTING", readonly message: string) {}

  inEndState(): boolean {
    return this.state === "CANCELED_OR_NOT_EXISTING" || RUN_END_STATES.has(this.state as RunState);
  }

  endedSuccessfully(): boolean {
    return this.state === "COMPLETED";
  }
}

type RunRef = RunData | string;

export class ApiWorkflowClient {
  private readonly http: ApiHttp;
  private _datasetId: string | null;

  constructor(o: ApiWorkflowClientOptions = {}) {
    this.http = new ApiHttp({ url: o.url ?? env("WINNOW_SERVER_URL") ?? "http://127.0.0.1:8470", token: o.token ?? env("WINNOW_TOKEN") ?? "" });
    this._datasetId = o.datasetId ?? null;
  }

  // ---- datasets -------------------------------------------------------------------------------------

  get datasetId(): string {
    if (!this._datasetId) throw new Error("no dataset set: call createDataset(name, datasource) or setDatasetId(id) first");
    return this._datasetId;
  }

  set datasetId(id: string) {
    this._datasetId = id;
  }

  /** Selects a dataset by id (checked: it must exist and be this token's). */
  async setDatasetId(id: string): Promise<void> {
    await this.http.json<DatasetData>("GET", `/v1/datasets/${encodeURIComponent(id)}`);
    this._datasetId = id;
  }

  async setDatasetIdByName(name: string): Promise<void> {
    const d = (await this.getDatasets()).find((x) => x.name === name);
    if (!d) throw new ApiNotFoundError(404, `dataset named ${JSON.stringify(name)} not found`);
    this._datasetId = d.id;
  }

  /** Creates a dataset over `datasource` (a folder relative to the datasource root) and selects it. */
  async createDataset(name: string, datasource: string): Promise<string> {
    const d = await this.http.json<DatasetData>("POST", "/v1/datasets", { name, datasource });
    this._datasetId = d.id;
    return d.id;
  }

  async getDatasets(): Promise<DatasetData[]> {
    return this.http.json("GET", "/v1/datasets");
  }

  /** Lightly's get_all_datasets: every dataset of the token's owner (there is no sharing). */
  async getAllDatasets(): Promise<DatasetData[]> {
    return this.getDatasets();
  }

  async *getDatasetsIter(): AsyncGenerator<DatasetData> {
    yield* await this.getDatasets();
  }

  async getDatasetById(datasetId: string): Promise<DatasetData> {
    return this.http.json("GET", `/v1/datasets/${encodeURIComponent(datasetId)}`);
  }

  /** The datasets of that name (names are unique per owner: zero or one). */
  async getDatasetsByName(name: string): Promise<DatasetData[]> {
    return this.http.json("GET", `/v1/datasets?name=${encodeURIComponent(name)}`);
  }

  async datasetExists(datasetId: string): Promise<boolean> {
    try {
      await this.getDatasetById(datasetId);
      return true;
    } catch (e) {
      if (e instanceof ApiNotFoundError) return false;
      throw e;
    }
  }

  async datasetNameExists(name: string): Promise<boolean> {
    return (await this.getDatasetsByName(name)).length > 0;
  }

  /** Creates (and selects) a dataset named `basename`, or `basename_1`, `basename_2`, … if taken; answers its id. */
  async createNewDatasetWithUniqueName(basename: string, datasource: string): Promise<string> {
    const taken = new Set((await this.getDatasets()).map((d) => d.name));
    for (let i = 0; ; i++) {
      const name = i === 0 ? basename : `${basename}_${i}`;
      if (taken.has(name)) continue;
      try {
        return await this.createDataset(name, datasource);
      } catch (e) {
        if (!(e instanceof ApiConflictError)) throw e; // created meanwhile by someone else: next name
      }
    }
  }

  /**
   * Deletes the dataset with its scheduled runs, runs, logs and artifacts (not its datasource
   * folder). Refused (ApiConflictError) while one of its runs is queued or running.
   */
  async deleteDatasetById(datasetId: string): Promise<void> {
    await this.http.json("DELETE", `/v1/datasets/${encodeURIComponent(datasetId)}`);
    if (this._datasetId === datasetId) this._datasetId = null;
  }

  /**
   * The filenames of the current dataset: those of its newest COMPLETED run's embeddings (what the
   * worker listed, minus corrupt images), in the embeddings' order. Winnow keeps no sample list of
   * its own, and the server may not see the datasource (S3, a worker-only mount).
   */
  async getFilenames(): Promise<string[]> {
    for await (const r of this.getComputeWorkerRunsIter({ datasetId: this.datasetId, newestFirst: true })) {
      if (r.state !== "COMPLETED" || !r.artifacts.some((a) => a.type === "EMBEDDINGS")) continue;
      const { withTempDir, joinPath, readEmbeddingsCsv } = await import("./node-files.js");
      return withTempDir("winnow-filenames-", async (dir) => {
        const f = joinPath(dir, "embeddings.csv");
        await this.downloadArtifact(r, "EMBEDDINGS", f);
        return readEmbeddingsCsv(f, `run ${r.id} EMBEDDINGS`).filenames;
      });
    }
    throw new ApiNotFoundError(404, `dataset ${this.datasetId} has no COMPLETED run with embeddings yet: its filenames are known once a run has listed them`);
  }

  // ---- workers --------------------------------------------------------------------------------------

  async registerComputeWorker(name = "Default", labels: string[] = []): Promise<string> {
    return (await this.http.json<WorkerData>("POST", "/v1/workers", { name, labels })).id;
  }

  async getComputeWorkers(): Promise<WorkerData[]> {
    return this.http.json("GET", "/v1/workers");
  }

  async getComputeWorkerIds(): Promise<string[]> {
    return (await this.getComputeWorkers()).map((w) => w.id);
  }

  async deleteComputeWorker(workerId: string): Promise<void> {
    await this.http.json("DELETE", `/v1/workers/${encodeURIComponent(workerId)}`);
  }

  // ---- configs and scheduling -------------------------------------------------------------------------

  async createComputeWorkerConfig(c: ComputeWorkerConfigs = {}): Promise<string> {
    return (await this.http.json<{ id: string }>("POST", "/v1/configs", sections(c))).id;
  }

  /** Schedules a run on the current dataset; returns the scheduled run's id. */
  async scheduleComputeWorkerRun(o: ScheduleOptions = {}): Promise<string> {
    const s = await this.http.json<ScheduledRunData>("POST", `/v1/datasets/${this.datasetId}/scheduled-runs`, {
      ...sections(o), priority: o.priority ?? "MID", runs_on: o.runsOn ?? [],
    });
    return s.id;
  }

  /** Scheduled runs of the current dataset (optionally in one state). */
  async getScheduledComputeWorkerRuns(state?: ScheduledState): Promise<ScheduledRunData[]> {
    return this.http.json("GET", `/v1/datasets/${this.datasetId}/scheduled-runs${state ? `?state=${state}` : ""}`);
  }

  async cancelScheduledComputeWorkerRun(scheduledRunId: string): Promise<ScheduledRunData> {
    return this.http.json("POST", `/v1/scheduled-runs/${encodeURIComponent(scheduledRunId)}/cancel`);
  }

  // ---- runs -----------------------------------------------------------------------------------------

  /** Runs, oldest first; of one dataset when `datasetId` is given, else all the token's. */
  async getComputeWorkerRuns(o: { datasetId?: string } = {}): Promise<RunData[]> {
    const out: RunData[] = [];
    for await (const r of this.getComputeWorkerRunsIter(o)) out.push(r);
    return out;
  }

  /** Runs one at a time, fetched a page (`pageSize`, default 500) at a time; oldest first unless `newestFirst`. */
  async *getComputeWorkerRunsIter(o: { datasetId?: string; pageSize?: number; newestFirst?: boolean } = {}): AsyncGenerator<RunData> {
    const limit = o.pageSize ?? 500;
    for (let offset = 0; ; offset += limit) {
      const q = new URLSearchParams({ limit: String(limit), offset: String(offset) });
      if (o.datasetId) q.set("dataset_id", o.datasetId);
      if (o.newestFirst) q.set("order", "desc");
      const page = await this.http.json<RunData[]>("GET", `/v1/runs?${q}`);
      yield* page;
      if (page.length < limit) return;
    }
  }

  async getComputeWorkerRun(runId: string): Promise<RunData> {
    return this.http.json("GET", `/v1/runs/${encodeURIComponent(runId)}`);
  }

  /** The tags of a run's selection: its own id (a COMPLETED run) and the names given to it. */
  async getComputeWorkerRunTags(runId: string): Promise<TagData[]> {
    return this.http.json("GET", `/v1/runs/${encodeURIComponent(runId)}/tags`);
  }

  /** Names a COMPLETED run's selection (a tag of its dataset, usable as SIMILARITY's input.tag_name). */
  async createComputeWorkerRunTag(runId: string, name: string): Promise<TagData> {
    return this.http.json("POST", `/v1/runs/${encodeURIComponent(runId)}/tags`, { name });
  }

  /** The names users gave to selections of the dataset's runs (each run's own-id tag is not listed). */
  async getDatasetTags(datasetId = this.datasetId): Promise<TagData[]> {
    return this.http.json("GET", `/v1/datasets/${encodeURIComponent(datasetId)}/tags`);
  }

  async getComputeWorkerRunFromScheduledRun(scheduledRunId: string): Promise<RunData> {
    return this.http.json("GET", `/v1/scheduled-runs/${encodeURIComponent(scheduledRunId)}/run`);
  }

  async getComputeWorkerRunInfo(scheduledRunId: string): Promise<ComputeWorkerRunInfo> {
    let s: ScheduledRunData;
    try {
      s = await this.http.json<ScheduledRunData>("GET", `/v1/scheduled-runs/${encodeURIComponent(scheduledRunId)}`);
    } catch (e) {
      if (e instanceof ApiNotFoundError) return new ComputeWorkerRunInfo("CANCELED_OR_NOT_EXISTING", `scheduled run ${scheduledRunId} does not exist`);
      throw e;
    }
    if (s.run_id) {
      const r = await this.getComputeWorkerRun(s.run_id);
      return new ComputeWorkerRunInfo(r.state, r.message);
    }
    if (s.state === "CANCELED") return new ComputeWorkerRunInfo("CANCELED_OR_NOT_EXISTING", "the scheduled run was canceled");
    return new ComputeWorkerRunInfo("OPEN", "waiting for a worker");
  }

  /** Yields the run info each time state or message changes, ending after an end state. */
  async *computeWorkerRunInfoGenerator(scheduledRunId: string, o: { pollMs?: number } = {}): AsyncGenerator<ComputeWorkerRunInfo> {
    let last = "";
    for (;;) {
      const info = await this.getComputeWorkerRunInfo(scheduledRunId);
      const key = `${info.state}\n${info.message}`;
      if (key !== last) {
        last = key;
        yield info;
      }
      if (info.inEndState()) return;
      await new Promise((r) => setTimeout(r, o.pollMs ?? 1000));
    }
  }

  // ---- views (what the web UI shows; docs/ui.md) -----------------------------------------------------

  /** Runs newest first, one page, optionally of one dataset and/or in one state. */
  async getComputeWorkerRunSummaries(o: { datasetId?: string; state?: RunState; limit?: number; offset?: number } = {}): Promise<{ total: number; offset: number; limit: number; items: RunSummary[] }> {
    const q = new URLSearchParams();
    if (o.datasetId) q.set("dataset_id", o.datasetId);
    if (o.state) q.set("state", o.state);
    if (o.limit !== undefined) q.set("limit", String(o.limit));
    if (o.offset !== undefined) q.set("offset", String(o.offset));
    return this.http.json("GET", `/v1/run-summaries${q.size ? `?${q}` : ""}`);
  }

  async getComputeWorkerRunTimeline(run: RunRef): Promise<{ state: RunState; created_at: number; ended_at: number | null; stages: { state: string; at: number }[] }> {
    return this.http.json("GET", `/v1/runs/${runId(run)}/timeline`);
  }

  async getComputeWorkerRunLoss(run: RunRef): Promise<{ source: "report" | "log"; epoch_losses: number[]; step_losses: number[] }> {
    return this.http.json("GET", `/v1/runs/${runId(run)}/loss`);
  }

  /** The run's config as scheduled and resolved (every default filled in). */
  async getComputeWorkerRunConfig(run: RunRef): Promise<{ config_id: string; scheduled: Record<string, unknown>; resolved: Record<string, unknown> | null; error: string | null }> {
    return this.http.json("GET", `/v1/runs/${runId(run)}/config`);
  }

  /** 2-D PCA of the run's embeddings with the selected (and earlier datapool) rows. */
  async getComputeWorkerRunEmbeddingMap(run: RunRef): Promise<EmbeddingMap> {
    return this.http.json("GET", `/v1/runs/${runId(run)}/embedding-map`);
  }

  /** A WebP thumbnail of one image of the run's dataset (read from the datasource by the server). */
  async downloadComputeWorkerRunThumbnail(run: RunRef, fileName: string, outputPath: string, o: { size?: number } = {}): Promise<number> {
    return this.http.download(`/v1/runs/${runId(run)}/thumbnail?file=${encodeURIComponent(fileName)}&size=${o.size ?? 128}`, outputPath);
  }

  /** The dataset's datapool: how many samples, and the run that recorded it (null: empty). */
  /** One run's summary as the UI's run page shows it (worker name, selected count). */
  async getComputeWorkerRunSummary(run: { id: string } | string): Promise<RunSummary> {
    return this.http.json("GET", `/v1/run-summaries/${encodeURIComponent(typeof run === "string" ? run : run.id)}`);
  }

  /** The run's HTML report as text. */
  async getComputeWorkerRunReportHtml(run: { id: string } | string): Promise<string> {
    return this.http.text(`/v1/runs/${encodeURIComponent(typeof run === "string" ? run : run.id)}/report-html`);
  }

  /** Workers: live or not (heartbeat within the server's timeout) and the run each is on. */
  async getWorkerSummaries(): Promise<{ heartbeat_timeout_ms: number; items: WorkerSummary[] }> {
    return this.http.json("GET", "/v1/worker-summaries");
  }

  /** OPEN scheduled runs, each with the number of live workers that fit its labels (0: it waits). */
  async getQueueSummaries(): Promise<{ items: QueuedRunSummary[] }> {
    return this.http.json("GET", "/v1/queue-summaries");
  }

  async getDatapoolSize(datasetId = this.datasetId): Promise<{ run_id: string | null; size: number }> {
    return this.http.json("GET", `/v1/datasets/${datasetId}/datapool`);
  }

  /** Checks configs as scheduling would, without scheduling: every problem with its field path. */
  async validateComputeWorkerConfig(c: ComputeWorkerConfigs): Promise<{ valid: boolean; issues: { path: string; message: string }[] }> {
    return this.http.json("POST", "/v1/configs/validate", sections(c));
  }

  // ---- artifacts ------------------------------------------------------------------------------------

  private async runOf(run: RunRef): Promise<RunData> {
    return typeof run === "string" ? this.getComputeWorkerRun(run) : this.getComputeWorkerRun(run.id);
  }

  private artifactOf(run: RunData, type: ArtifactData["type"]): ArtifactData {
    const a = run.artifacts.find((x) => x.type === type);
    if (!a) throw new ApiNotFoundError(404, `run ${run.id} (${run.state}) has no ${type} artifact`);
    return a;
  }

  /** A signed read URL of the run's checkpoint (default validity one hour); usable as worker_config.checkpoint. */
  async getComputeWorkerRunCheckpointUrl(run: RunRef, o: { expiresIn?: number } = {}): Promise<string> {
    return this.getArtifactUrl(run, "CHECKPOINT", o);
  }

  async getArtifactUrl(run: RunRef, type: ArtifactData["type"], o: { expiresIn?: number } = {}): Promise<string> {
    const r = await this.runOf(run);
    const a = this.artifactOf(r, type);
    const res = await this.http.json<{ url: string }>("POST", `/v1/runs/${r.id}/artifacts/${encodeURIComponent(a.file_name)}/signed-url`, { expires_in: o.expiresIn ?? 3600 });
    return res.url;
  }

  async downloadComputeWorkerRunCheckpoint(run: RunRef, outputPath: string): Promise<void> {
    await this.downloadArtifact(run, "CHECKPOINT", outputPath);
  }

  async downloadComputeWorkerRunLog(run: RunRef, outputPath: string): Promise<void> {
    await this.downloadArtifact(run, "LOG", outputPath);
  }

  async downloadComputeWorkerRunReportJson(run: RunRef, outputPath: string): Promise<void> {
    await this.downloadArtifact(run, "REPORT_JSON", outputPath);
  }

  async downloadComputeWorkerRunCorruptnessCheckInformation(run: RunRef, outputPath: string): Promise<void> {
    await this.downloadArtifact(run, "CORRUPTNESS_CHECK_INFORMATION", outputPath);
  }

  async downloadArtifact(run: RunRef, type: ArtifactData["type"], outputPath: string): Promise<void> {
    const r = await this.runOf(run);
    const a = this.artifactOf(r, type);
    await this.http.download(`/v1/runs/${r.id}/artifacts/${encodeURIComponent(a.file_name)}`, outputPath);
  }

  /** Downloads every artifact of the run into `outputDir`, under its file name; returns the paths. */
  async downloadComputeWorkerRunArtifacts(run: RunRef, outputDir: string): Promise<string[]> {
    const r = await this.runOf(run);
    const { joinPath } = await import("./node-files.js");
    const out: string[] = [];
    for (const a of r.artifacts) {
      const dest = joinPath(outputDir, a.file_name);
      await this.http.download(`/v1/runs/${r.id}/artifacts/${encodeURIComponent(a.file_name)}`, dest);
      out.push(dest);
    }
    return out;
  }
}

/** An environment variable where there is a `process` (Node); none in a browser. */
function env(name: string): string | undefined {
  return typeof process === "undefined" ? undefined : process.env[name];
}

function sections(c: ComputeWorkerConfigs): Record<string, unknown> {
  return { worker_config: c.workerConfig ?? null, selection_config: c.selectionConfig ?? null, lightly_config: c.lightlyConfig ?? null };
}

const runId = (run: RunRef): string => encodeURIComponent(typeof run === "string" ? run : run.id);
