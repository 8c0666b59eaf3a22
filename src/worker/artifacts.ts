// Which files of a finished (or aborted/failed) run folder become which artifacts. Names are single
// safe path segments (the server refuses anything else).
import * as fs from "node:fs";
import * as path from "node:path";
import type { ArtifactType } from "../db/records.js";

export interface ArtifactFile {
  file: string;
  name: string;
  type: ArtifactType;
}

export function artifactsOfRun(output: string, record: Record<string, unknown> | null, workerConfig: Record<string, unknown>): ArtifactFile[] {
  const out: ArtifactFile[] = [];
  const add = (rel: string, name: string, type: ArtifactType): void => {
    const f = path.join(output, rel);
    if (fs.existsSync(f) && fs.statSync(f).isFile()) out.push({ file: f, name, type });
  };
  // The checkpoint this run trained (or, aborted, the last one it kept); not one it was only given.
  const ckpt = typeof record?.checkpoint === "string" ? record.checkpoint : null;
  if (ckpt && (record?.trained === true || record?.state === "ABORTED") && fs.existsSync(ckpt)) out.push({ file: ckpt, name: "checkpoint.ckpt", type: "CHECKPOINT" });
  add("log.txt", "log.txt", "LOG");
  add("report.json", "report.json", "REPORT_JSON");
  add("report.html", "report.html", "REPORT_HTML");
  add("data/embeddings.csv", "embeddings.csv", "EMBEDDINGS");
  add("filenames/selected_filenames.txt", "selected_filenames.txt", "SELECTED_FILENAMES");
  add("data/map_metadata.json", "map_metadata.json", "MAP_METADATA");
  add("data/corruptness_check_information.json", "corruptness_check_information.json", "CORRUPTNESS_CHECK_INFORMATION");
  const ds = (workerConfig.datasource ?? {}) as Record<string, unknown>;
  if (workerConfig.use_datapool === true && ds.enable_datapool_update !== false) {
    add("filenames/selected_filenames_including_datapool.txt", "datapool_filenames.txt", "DATAPOOL_FILENAMES");
  }
  const cfgDir = path.join(output, "config");
  if (fs.existsSync(cfgDir)) {
    for (const f of fs.readdirSync(cfgDir).sort()) {
      if (/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(f)) add(path.join("config", f), `config_${f}`, "CONFIG");
    }
  }
  return out;
}
