// `winnow worker`: picks up scheduled runs from a server and runs them (docs/service.md).
import type { Command } from "commander";

export function register(program: Command): void {
  program
    .command("worker")
    .description("Run scheduled runs from a Winnow server: register, long-poll, claim, run, upload, heartbeat.")
    .option("--server <url>", "server URL (default $WINNOW_SERVER_URL or http://127.0.0.1:8470)")
    .option("--token <token>", "API token (default $WINNOW_TOKEN)")
    .option("--labels <a,b>", "labels of this worker (a scheduled run's runs_on must all be among them)")
    .option("--name <name>", "worker name shown by getComputeWorkers; registering a name again reuses that worker (default <host>-<pid>)")
    .option("--worker-id <id>", "reuse a registered worker id instead of registering a new worker")
    .option("--device <device>", "cpu or cuda (default: lightly_config.trainer.gpus of each run)")
    .option("--work-dir <dir>", "run outputs and the decode cache", "winnow-worker")
    .option("--datasource-root <dir>", "folder that datasets' datasources are relative to on this machine", ".")
    .option("--s3-endpoint <url>", "S3-compatible endpoint for s3:// datasources (default $WINNOW_S3_ENDPOINT, else AWS)")
    .option("--s3-path-style", "path-style S3 addressing (default on with a custom endpoint; $WINNOW_S3_PATH_STYLE)")
    .option("--s3-region <region>", "S3 region (default $AWS_REGION, else us-east-1)")
    .option("--heartbeat <seconds>", "heartbeat period", "10")
    .option("--shutdown-when-job-finished", "exit after one run")
    .addHelpText("after", "\nCtrl-C: a running job finishes its step, keeps its checkpoint, uploads it and is marked ABORTED.")
    .action(async (o: { server?: string; token?: string; labels?: string; name?: string; workerId?: string; device?: string; workDir: string; datasourceRoot: string; heartbeat: string; shutdownWhenJobFinished?: boolean; s3Endpoint?: string; s3PathStyle?: boolean; s3Region?: string }) => {
      const { CliError, EXIT } = await import("./index.js");
      const token = o.token ?? process.env.WINNOW_TOKEN;
      if (!token) throw new CliError("--token: an API token is required (or set $WINNOW_TOKEN); create one with `winnow token create`", EXIT.usage);
      if (o.device && o.device !== "cpu" && o.device !== "cuda") throw new CliError(`--device: expected cpu or cuda, got ${JSON.stringify(o.device)}`, EXIT.usage);
      const hb = Number(o.heartbeat);
      if (!(hb > 0)) throw new CliError(`--heartbeat: expected seconds > 0, got ${JSON.stringify(o.heartbeat)}`, EXIT.usage);
      const { runWorker } = await import("../worker/worker.js");
      const ctl = new AbortController();
      const onSig = (): void => {
        if (ctl.signal.aborted) process.exit(EXIT.aborted); // second Ctrl-C: leave now
        ctl.abort();
      };
      process.on("SIGINT", onSig);
      process.on("SIGTERM", onSig);
      await runWorker({
        server: o.server ?? process.env.WINNOW_SERVER_URL ?? "http://127.0.0.1:8470", token,
        labels: o.labels ? o.labels.split(",").map((s) => s.trim()).filter(Boolean) : [], name: o.name, workerId: o.workerId,
        device: o.device as "cpu" | "cuda" | undefined, workDir: o.workDir, datasourceRoot: o.datasourceRoot, heartbeatMs: hb * 1000,
        shutdownWhenJobFinished: o.shutdownWhenJobFinished, signal: ctl.signal,
        s3: { endpoint: o.s3Endpoint, forcePathStyle: o.s3PathStyle, region: o.s3Region },
      });
      if (ctl.signal.aborted) process.exitCode = EXIT.aborted;
    });
}
