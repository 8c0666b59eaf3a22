// `winnow runs`: earlier runs, newest first: the local runs index, or with --server the runs a
// Winnow server holds for the token (getComputeWorkerRuns).
import type { Command } from "commander";
import type { RunData } from "../client/index.js";
import type { RunRecord } from "../run/store.js";
import { addTokenOptions, requireToken } from "./token-option.js";

interface RunsOptions {
  json?: boolean;
  input?: string;
  server?: string;
  token?: string;
  tokenFile?: string;
  dataset?: string;
  datasetId?: string;
}

/** Left-aligned columns separated by two spaces. */
export function table(head: string[], rows: string[][]): string {
  const w = head.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j]!.length)));
  const line = (r: string[]): string => r.map((c, j) => c.padEnd(w[j]!)).join("  ").trimEnd();
  return `${[line(head), ...rows.map(line)].join("\n")}\n`;
}

export const isoSeconds = (t: string): string => t.replace("T", " ").replace(/\.\d+Z$/, "Z");

export function register(program: Command): void {
  const cmd = program
    .command("runs")
    .description("List earlier runs (id, state, input or dataset, started, duration, checkpoint): local ones, or a server's with --server.")
    .option("--json", "print the records as JSON")
    .option("--input <folder>", "local runs: only runs over this input folder")
    .option("--server <url>", "list the runs of a Winnow server instead (e.g. http://127.0.0.1:8470)");
  addTokenOptions(cmd, "with --server: ")
    .option("--dataset <name>", "with --server: only runs of this dataset")
    .option("--dataset-id <id>", "with --server: only runs of this dataset id")
    .addHelpText("after", "\nLocal runs are recorded in $WINNOW_HOME/runs (default ~/.winnow/runs). With --server, the token sees only its own runs.")
    .action(async (o: RunsOptions) => {
      if (o.server) await serverRuns(o);
      else await localRuns(o);
    });
}

async function localRuns(o: RunsOptions): Promise<void> {
  const { CliError, EXIT } = await import("./index.js");
  for (const flag of ["token", "tokenFile", "dataset", "datasetId"] as const) {
    if (o[flag]) throw new CliError(`--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} needs --server <url>`, EXIT.usage);
  }
  const fs = await import("node:fs");
  const path = await import("node:path");
  const { listRunRecords, runsIndexDir } = await import("../run/store.js");
  const { formatDuration } = await import("../util/progress.js");
  let recs = listRunRecords();
  if (o.input) {
    let want = path.resolve(o.input);
    try {
      want = fs.realpathSync(want);
    } catch {
      /* compare as given */
    }
    recs = recs.filter((r) => r.input === want);
  }
  if (o.json) {
    process.stdout.write(`${JSON.stringify(recs, null, 2)}\n`);
    return;
  }
  if (!recs.length) {
    process.stdout.write(`no runs in ${runsIndexDir()}\n`);
    return;
  }
  process.stdout.write(table(
    ["ID", "STATE", "INPUT", "STARTED", "DURATION", "CHECKPOINT", "SELECTED", "WEIGHTS FROM"],
    recs.map((r) => [
      r.id, r.state, r.input, isoSeconds(r.startedAt),
      r.durationMs === null ? "-" : formatDuration(r.durationMs / 1000),
      r.checkpoint && fs.existsSync(r.checkpoint) ? "yes" : "no",
      r.selectedCount === null ? "-" : String(r.selectedCount),
      startedFromText(r.startingWeights),
    ]),
  ));
}

/** The starting weights in a few words: "zoo resnet-18/simclr/d32/w1.0 (sha256 085d0693…)", "run <id>", "random". */
export function startedFromText(w: RunRecord["startingWeights"]): string {
  if (!w) return "-";
  if (w.kind === "zoo") return `zoo ${w.zooKey} (sha256 ${(w.sha256 ?? "").slice(0, 8)}…)`;
  if (w.kind === "run" || w.kind === "datapool" || w.kind === "resume") return `${w.kind} ${w.runId}`;
  if (w.kind === "backbone") return `${w.backbone} (sha256 ${(w.sha256 ?? "").slice(0, 8)}…)`;
  if (w.kind === "checkpoint") return `checkpoint ${w.path}`;
  if (w.kind === "url") return `url ${w.url}`;
  return w.warning ? `random (no zoo entry ${w.zooKey})` : w.kind;
}

async function serverRuns(o: RunsOptions): Promise<void> {
  const { CliError, EXIT } = await import("./index.js");
  if (o.input) throw new CliError("--input lists local runs; with --server use --dataset <name> or --dataset-id <id>", EXIT.usage);
  if (o.dataset && o.datasetId) throw new CliError("give --dataset or --dataset-id, not both", EXIT.usage);
  const token = await requireToken(o, "--token: an API token is required with --server (give --token-file <file>, or set $WINNOW_TOKEN)");
  if (!/^https?:\/\/[^/]/.test(o.server!)) throw new CliError(`--server: expected an http(s) URL such as http://127.0.0.1:8470, got ${JSON.stringify(o.server)}`, EXIT.usage);
  const { ApiWorkflowClient, ApiError, ApiUnauthorizedError, ApiNotFoundError } = await import("../client/index.js");
  const { formatDuration } = await import("../util/progress.js");
  const client = new ApiWorkflowClient({ url: o.server, token });
  try {
    const datasets = await client.getDatasets();
    let datasetId = o.datasetId;
    if (o.dataset) {
      const d = datasets.find((x) => x.name === o.dataset);
      if (!d) throw new CliError(`--dataset: no dataset named ${JSON.stringify(o.dataset)} on ${o.server} for this token (it has: ${datasets.map((x) => x.name).join(", ") || "none"})`);
      datasetId = d.id;
    }
    const runs: RunData[] = (await client.getComputeWorkerRuns({ datasetId })).sort((a, b) => b.created_at - a.created_at);
    if (o.json) {
      process.stdout.write(`${JSON.stringify(runs, null, 2)}\n`);
      return;
    }
    if (!runs.length) {
      process.stdout.write(`no runs on ${o.server}${datasetId ? ` for dataset ${datasetId}` : ""}\n`);
      return;
    }
    const names = new Map(datasets.map((d) => [d.id, d.name]));
    process.stdout.write(table(
      ["ID", "STATE", "DATASET", "STARTED", "DURATION", "CHECKPOINT", "SCHEDULED"],
      runs.map((r) => [
        r.id, r.state, names.get(r.dataset_id) ?? r.dataset_id, isoSeconds(new Date(r.created_at).toISOString()),
        r.ended_at === null ? "-" : formatDuration((r.ended_at - r.created_at) / 1000),
        r.artifacts.some((a) => a.type === "CHECKPOINT") ? "yes" : "no",
        r.scheduled_id,
      ]),
    ));
  } catch (e) {
    if (e instanceof ApiUnauthorizedError) throw new CliError(`${o.server} refused the token (401): ${e.message}`);
    if (e instanceof ApiNotFoundError && o.datasetId) throw new CliError(`--dataset-id: ${e.message}`);
    if (e instanceof ApiError) throw new CliError(`${o.server}: HTTP ${e.status}: ${e.message}`);
    if (e instanceof TypeError && /fetch failed/.test(e.message)) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(`cannot reach ${o.server}: ${cause?.code ?? cause?.message ?? e.message}`);
    }
    throw e;
  }
}
