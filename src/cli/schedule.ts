// `winnow schedule`: schedules a run on a server from a run file (the same YAML/JSON as `winnow run`),
// optionally waiting for it and downloading its artifacts.
import type { Command } from "commander";
import { addTokenOptions, requireToken } from "./token-option.js";

export function register(program: Command): void {
  const cmd = program
    .command("schedule")
    .description("Schedule a run on a Winnow server (scheduleComputeWorkerRun); prints the scheduled run id.")
    .option("--server <url>", "server URL (default $WINNOW_SERVER_URL or http://127.0.0.1:8470)");
  addTokenOptions(cmd)
    .option("--dataset <name>", "dataset name (created with --datasource when it does not exist)")
    .option("--dataset-id <id>", "dataset id")
    .option("--datasource <folder>", "folder relative to the server's datasource root (creates the dataset)")
    .option("--config <file>", "run file with worker_config, selection_config, lightly_config")
    .option("--priority <p>", "LOW, MID, HIGH or CRITICAL", "MID")
    .option("--runs-on <a,b>", "labels a worker must all have")
    .option("--wait", "follow the run's state until it ends (exit 1 unless COMPLETED)")
    .option("--download <dir>", "with --wait: download the run's artifacts here")
    .action(async (o: { server?: string; token?: string; tokenFile?: string; dataset?: string; datasetId?: string; datasource?: string; config?: string; priority: string; runsOn?: string; wait?: boolean; download?: string }) => {
      const { CliError, EXIT } = await import("./index.js");
      const { ApiWorkflowClient, ApiNotFoundError } = await import("../client/index.js");
      const { readRunConfigFile } = await import("../config/run-config.js");
      const token = await requireToken(o, "--token: an API token is required (give --token-file <file>, or set $WINNOW_TOKEN)");
      if (!["LOW", "MID", "HIGH", "CRITICAL"].includes(o.priority)) throw new CliError(`--priority: expected LOW, MID, HIGH or CRITICAL, got ${JSON.stringify(o.priority)}`, EXIT.usage);
      if (!o.dataset && !o.datasetId) throw new CliError("give --dataset <name> or --dataset-id <id>", EXIT.usage);
      const client = new ApiWorkflowClient({ url: o.server, token });
      if (o.datasetId) await client.setDatasetId(o.datasetId);
      else {
        try {
          await client.setDatasetIdByName(o.dataset!);
        } catch (e) {
          if (!(e instanceof ApiNotFoundError) || !o.datasource) throw e instanceof ApiNotFoundError ? new CliError(`dataset ${JSON.stringify(o.dataset)} not found (give --datasource to create it)`) : e;
          await client.createDataset(o.dataset!, o.datasource);
        }
      }
      const raw = (o.config ? readRunConfigFile(o.config) : {}) as Record<string, Record<string, unknown> | undefined> | null;
      const id = await client.scheduleComputeWorkerRun({
        workerConfig: raw?.worker_config, selectionConfig: raw?.selection_config, lightlyConfig: raw?.lightly_config,
        priority: o.priority as "MID", runsOn: o.runsOn ? o.runsOn.split(",").map((s) => s.trim()).filter(Boolean) : [],
      });
      process.stdout.write(`${id}\n`);
      if (!o.wait) return;
      let last = null;
      for await (const info of client.computeWorkerRunInfoGenerator(id)) {
        process.stderr.write(`${info.state}${info.message ? `: ${info.message}` : ""}\n`);
        last = info;
      }
      if (o.download) {
        const run = await client.getComputeWorkerRunFromScheduledRun(id);
        for (const f of await client.downloadComputeWorkerRunArtifacts(run, o.download)) process.stderr.write(`downloaded ${f}\n`);
      }
      if (!last?.endedSuccessfully()) process.exitCode = EXIT.failed;
    });
}
