// A claimed run's inputs on this machine: its datasource (a folder inside the datasource root, or
// an S3 prefix mirrored into the work dir), the checkpoint, datapool and tagged selections the
// server signed URLs for, and the job's spec file. A missing input ends the run FAILED with why.
import * as fs from "node:fs";
import * as path from "node:path";
import { resolveInside, PathRefused } from "../data/folder.js";
import { isS3Url } from "../s3/client.js";
import type { Claim } from "./claim.js";
import type { WorkerContext } from "./context.js";
import type { JobSpec } from "./job-spec.js";
import type { RunReporter } from "./run-reporter.js";

/** Where a prepared job stands: its spec (written to specFile), or null when the run was ended. */
export type PreparedJob = { spec: JobSpec; specFile: string } | null;

export async function prepareJob(ctx: WorkerContext, report: RunReporter, c: Claim): Promise<PreparedJob> {
  const input = isS3Url(c.dataset.datasource) ? await mirrorS3Datasource(ctx, report, c) : await localDatasource(ctx, report, c);
  if (input === null) return null;
  if (c.checkpoint && "error" in c.checkpoint) return fail(report, c.checkpoint.error);
  const jobDir = path.join(ctx.workDir, "runs", c.run.id);
  fs.rmSync(jobDir, { recursive: true, force: true });
  fs.mkdirSync(jobDir, { recursive: true });
  let datapool: JobSpec["datapool"] = null;
  if (c.datapool) {
    const f = path.join(jobDir, "datapool.txt");
    const why = await download(ctx, "datapool download", c.datapool.url, f);
    if (why !== null) return fail(report, `use_datapool: the datapool of run ${c.datapool.run_id} cannot be downloaded: ${why}`);
    datapool = { runId: c.datapool.run_id, file: f };
  }
  const tagFiles: Record<string, string> = {};
  for (const [k, [name, t]] of Object.entries(Object.entries(c.tags ?? {}))) {
    const f = path.join(jobDir, `tag-${k}.txt`);
    const why = await download(ctx, "tag download", t.url, f);
    if (why !== null) return fail(report, `tag ${JSON.stringify(name)}: the selection of run ${t.run_id} cannot be downloaded: ${why}`);
    tagFiles[name] = f;
  }
  if (c.checkpoint) await report.update({ checkpoint_source: c.checkpoint.source });

  const spec: JobSpec = {
    input, output: path.join(jobDir, "output"), home: path.join(jobDir, "home"), cacheDir: path.join(ctx.workDir, "cache"),
    config: { worker_config: c.config.worker_config, selection_config: c.config.selection_config, lightly_config: c.config.lightly_config },
    checkpoint: c.checkpoint && "url" in c.checkpoint ? c.checkpoint.url : null, datapool, device: ctx.device,
    policy: { allowRoots: ctx.allowRoots.map((r) => path.resolve(r)), allowUrlHosts: ctx.allowUrlHosts, serverOrigin: new URL(ctx.http.base).origin },
    resume: c.resume ? { runId: c.resume.run_id, checkpoint: c.resume.url } : null,
    tags: tagFiles,
  };
  const specFile = path.join(jobDir, "spec.json");
  fs.writeFileSync(specFile, JSON.stringify(spec));
  return { spec, specFile };
}

async function fail(report: RunReporter, message: string): Promise<null> {
  await report.finish("FAILED", message);
  return null;
}

/** Downloads a signed URL within the upload budget: null, or why it failed. */
async function download(ctx: WorkerContext, what: string, url: string, file: string): Promise<string | null> {
  try {
    await ctx.retrying(what, () => ctx.http.download(url, file, { auth: false }), { untilStopped: false, budget: ctx.budgets.upload });
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

/** Mirrored into the work dir (only what changed is fetched), then read like a local folder. */
async function mirrorS3Datasource(ctx: WorkerContext, report: RunReporter, c: Claim): Promise<string | null> {
  const ds = c.dataset.datasource;
  try {
    const { mirrorS3Prefix } = await import("../data/s3-mirror.js");
    const m = await mirrorS3Prefix(ds, path.join(ctx.workDir, "s3-mirror"), { settings: ctx.s3, log: (l) => report.logLines([l]) });
    const skipped = m.skipped.length ? `, ${m.skipped.length} skipped (keys that cannot be a local path, e.g. ${JSON.stringify(m.skipped[0])})` : "";
    const vanished = m.vanished.length ? `, ${m.vanished.length} deleted while syncing (left out, e.g. ${JSON.stringify(m.vanished[0])})` : "";
    report.logLines([`datasource ${ds}: ${m.objects} object(s), ${m.downloaded} downloaded (${m.bytesDownloaded} bytes), ${m.unchanged} unchanged, ${m.removed} removed${skipped}${vanished}`]);
    return m.dir;
  } catch (e) {
    return fail(report, `datasource ${JSON.stringify(ds)} cannot be read on worker ${ctx.workerName}: ${(e as Error).message}`);
  }
}

/** The datasource folder inside the root, with no symbolic link on the way (it may lead outside). */
async function localDatasource(ctx: WorkerContext, report: RunReporter, c: Claim): Promise<string | null> {
  const ds = c.dataset.datasource;
  try {
    const input = resolveInside(ctx.realRoot, ds);
    if (fs.realpathSync(input) !== input) throw new PathRefused(ds, "symbolic link in the path (it may lead outside the datasource root)");
    return input;
  } catch (e) {
    const why = e instanceof PathRefused ? e.reason : (e as Error).message;
    // The root is this machine's business: in the run's log, not in the message the UI shows.
    report.logLines([`datasource root on worker ${ctx.workerName}: ${ctx.realRoot}`]);
    return fail(report, `datasource ${JSON.stringify(ds)} cannot be used on worker ${ctx.workerName}: ${why}`);
  }
}
