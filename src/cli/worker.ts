// `winnow worker`: picks up scheduled runs from a server and runs them (docs/service.md).
import type { Command } from "commander";
import { addTokenOptions, requireToken } from "./token-option.js";

export function register(program: Command): void {
  const cmd = program
    .command("worker")
    .description("Run scheduled runs from a Winnow server: register, long-poll, claim, run, upload, heartbeat.")
    .option("--server <url>", "server URL (default $WINNOW_SERVER_URL or http://127.0.0.1:8470)");
  addTokenOptions(cmd)
    .option("--labels <a,b>", "labels of this worker (a scheduled run's runs_on must all be among them)")
    .option("--name <name>", "worker name shown by getComputeWorkers; registering a name again reuses that worker (default <host>-<pid>)")
    .option("--worker-id <id>", "reuse a registered worker id instead of registering a new worker")
    .option("--device <device>", "cpu or cuda (default: lightly_config.trainer.gpus of each run)")
    .option("--work-dir <dir>", "run outputs and the decode cache", "winnow-worker")
    .option("--datasource-root <dir>", "folder that datasets' datasources are relative to on this machine", ".")
    .option("--s3-endpoint <url>", "S3-compatible endpoint for s3:// datasources (default $WINNOW_S3_ENDPOINT, else AWS)")
    .option("--s3-path-style", "path-style S3 addressing (default on with a custom endpoint; $WINNOW_S3_PATH_STYLE)")
    .option("--s3-region <region>", "S3 region (default $AWS_REGION, else us-east-1)")
    .option("--gpus <N>", "GPUs this worker advertises (labels gpus:1 … gpus:N; runs with trainer.gpus N > 1 need them); default: the NVIDIA GPUs it sees, 0 with --device cpu")
    .option("--heartbeat <seconds>", "heartbeat period", "10")
    .option("--shutdown-when-job-finished", "exit after one run")
    .option("--allow-root <dir>", "a folder run configs' paths may also read (repeatable; by default only the datasource and the job's folder)", (v: string, a: string[]) => [...a, v], [] as string[])
    .option("--allow-url-host <host|cidr>", "a host, IP or CIDR run configs' URLs may reach though internal (repeatable)", (v: string, a: string[]) => [...a, v], [] as string[])
    .option("--upload-retries <n>", "tries of each artifact upload before the run ends FAILED", "10")
    .option("--upload-retry-time <seconds>", "time after which an artifact upload is no longer retried", "300")
    .addHelpText("after", "\nCtrl-C: a running job finishes its step, keeps its checkpoint, uploads it and is marked ABORTED.")
    .action(async (o: { server?: string; token?: string; tokenFile?: string; uploadRetries: string; uploadRetryTime: string; labels?: string; name?: string; workerId?: string; device?: string; gpus?: string; workDir: string; datasourceRoot: string; heartbeat: string; shutdownWhenJobFinished?: boolean; allowRoot: string[]; allowUrlHost: string[]; s3Endpoint?: string; s3PathStyle?: boolean; s3Region?: string }) => {
      const { CliError, EXIT } = await import("./index.js");
      const token = await requireToken(o, "--token: an API token is required (give --token-file <file>, or set $WINNOW_TOKEN); create one with `winnow token create`");
      const attempts = Number(o.uploadRetries);
      if (!Number.isInteger(attempts) || attempts < 1) throw new CliError(`--upload-retries: expected an integer ≥ 1, got ${JSON.stringify(o.uploadRetries)}`, EXIT.usage);
      const retrySec = Number(o.uploadRetryTime);
      if (!(retrySec > 0)) throw new CliError(`--upload-retry-time: expected seconds > 0, got ${JSON.stringify(o.uploadRetryTime)}`, EXIT.usage);
      if (o.device && o.device !== "cpu" && o.device !== "cuda") throw new CliError(`--device: expected cpu or cuda, got ${JSON.stringify(o.device)}`, EXIT.usage);
      if (o.gpus !== undefined && !/^\d+$/.test(o.gpus)) throw new CliError(`--gpus: expected an integer ≥ 0, got ${JSON.stringify(o.gpus)}`, EXIT.usage);
      const hb = Number(o.heartbeat);
      if (!(hb > 0)) throw new CliError(`--heartbeat: expected seconds > 0, got ${JSON.stringify(o.heartbeat)}`, EXIT.usage);
      const { allowHostProblem } = await import("../run/policy.js");
      for (const h of o.allowUrlHost) {
        const why = allowHostProblem(h);
        if (why) throw new CliError(`--allow-url-host: ${JSON.stringify(h)}: ${why}`, EXIT.usage);
      }
      const fs = await import("node:fs");
      for (const r of o.allowRoot) {
        if (!fs.statSync(r, { throwIfNoEntry: false })?.isDirectory()) throw new CliError(`--allow-root: ${JSON.stringify(r)} is not a folder`, EXIT.usage);
      }
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
        device: o.device as "cpu" | "cuda" | undefined, gpus: o.gpus === undefined ? undefined : Number(o.gpus), workDir: o.workDir, datasourceRoot: o.datasourceRoot, heartbeatMs: hb * 1000,
        shutdownWhenJobFinished: o.shutdownWhenJobFinished, signal: ctl.signal, allowRoots: o.allowRoot, allowUrlHosts: o.allowUrlHost,
        uploadRetry: { attempts, totalMs: retrySec * 1000 },
        s3: { endpoint: o.s3Endpoint, forcePathStyle: o.s3PathStyle, region: o.s3Region },
      });
      if (ctl.signal.aborted) process.exitCode = EXIT.aborted;
    });
}
