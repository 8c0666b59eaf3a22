// The local runs index: one JSON record per run in $WINNOW_HOME/runs/<id>.json (WINNOW_HOME
// defaults to ~/.winnow), written atomically at every state change, plus a copy in the run's own
// output folder (run.json). `winnow runs`, checkpoint_run_id and use_datapool read it. The index
// only points at output folders; deleting a folder leaves a record whose files are gone (reported).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import type { RunState } from "./states.js";
import { writeFileAtomic } from "../util/atomic.js";
import { WinnowError } from "../util/errors.js";
import { jsonText } from "./files.js";
import { runPaths } from "./paths.js";
import type { StartingWeights } from "./pretrained.js";

export const RUN_RECORD_FORMAT = "winnow-run/1";

export interface StageTiming {
  state: RunState;
  startedAt: string;
  /** Null while the stage runs. */
  durationMs: number | null;
}

export interface RunRecord {
  format: string;
  id: string;
  state: RunState;
  /** Real path of the input folder. */
  input: string;
  /** Absolute path of the run's output folder. */
  output: string;
  configFile: string | null;
  startedAt: string;
  endedAt: string | null;
  durationMs: number | null;
  stages: StageTiming[];
  /** The checkpoint this run produced (training) or embedded with; absolute path, or null. */
  checkpoint: string | null;
  /** True when this run trained the checkpoint. */
  trained: boolean;
  /** Where its weights came from: "trained", "checkpoint", "run:<id>", "url", "datapool:<id>", "custom-embeddings", "random-init". */
  weights: string | null;
  useDatapool: boolean;
  /** Counted by later use_datapool runs (use_datapool and datasource.enable_datapool_update). */
  datapoolUpdate: boolean;
  /** Samples selected by this run (new picks) and the datapool after it (earlier + new). */
  selectedCount: number | null;
  datapoolCount: number | null;
  error: string | null;
  pid: number;
  /** Where the starting weights came from (zoo key + sha256, checkpoint path, run id); absent in older records. */
  startingWeights?: StartingWeights | null;
  /** The run this one resumed (`winnow run --resume`, or the service's automatic resume); absent in older records. */
  resumedFrom?: string | null;
  /** A FAILED run that may be resumed all the same: a rank of a distributed run failed, the checkpoint is whole. */
  resumable?: boolean;
}

/** $WINNOW_HOME or ~/.winnow. */
export function winnowHome(): string {
  return path.resolve(process.env.WINNOW_HOME || path.join(os.homedir(), ".winnow"));
}

export const runsIndexDir = (): string => path.join(winnowHome(), "runs");

/** 20250131-154502-3fa9c1: sortable by start time, unique enough for one machine. */
export function newRunId(now = new Date()): string {
  const p = (v: number, n = 2): string => String(v).padStart(n, "0");
  const stamp = `${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`;
  return `${stamp}-${randomBytes(3).toString("hex")}`;
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

const writeJsonAtomic = (file: string, value: unknown): void => writeFileAtomic(file, jsonText(value), { mkdir: true });

/** Writes the record into the index and into the run's folder. */
export function saveRunRecord(rec: RunRecord): void {
  writeJsonAtomic(path.join(runsIndexDir(), `${rec.id}.json`), rec);
  if (fs.existsSync(rec.output)) writeJsonAtomic(runPaths(rec.output).record, rec);
}

export class RunNotFoundError extends WinnowError {
  constructor(readonly runId: string, detail: string) {
    super("not_found", detail, { where: runId });
  }
}

export function readRunRecord(id: string): RunRecord {
  if (!ID_RE.test(id)) throw new RunNotFoundError(id, `not a run id: ${JSON.stringify(id)} (run ids look like 20250131-154502-3fa9c1; see \`winnow runs\`)`);
  const file = path.join(runsIndexDir(), `${id}.json`);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    throw new RunNotFoundError(id, `no run ${id} in ${runsIndexDir()} (see \`winnow runs\`; WINNOW_HOME selects another index)`);
  }
  const rec = JSON.parse(text) as RunRecord;
  if (rec.format !== RUN_RECORD_FORMAT) throw new RunNotFoundError(id, `${file}: not a Winnow run record`);
  return rec;
}

/** Every record of the index, newest first. Unreadable files are skipped. */
export function listRunRecords(): RunRecord[] {
  const dir = runsIndexDir();
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => n.endsWith(".json") && !n.startsWith("."));
  } catch {
    return [];
  }
  const out: RunRecord[] = [];
  for (const n of names) {
    try {
      const r = JSON.parse(fs.readFileSync(path.join(dir, n), "utf8")) as RunRecord;
      if (r.format === RUN_RECORD_FORMAT) out.push(r);
    } catch {
      /* a record being written or damaged: not listed */
    }
  }
  return out.sort((a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : a.id < b.id ? 1 : -1));
}
