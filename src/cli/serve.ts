// `winnow serve`: the HTTP API over a SQLite file or PostgreSQL, with artifacts in a local folder or S3.
import type { Command } from "commander";

export function register(program: Command): void {
  program
    .command("serve")
    .description("Start the Winnow service API (scheduled runs, workers, runs, artifacts). See docs/service.md.")
    .option("--database <file|url>", "SQLite database file, or postgres://user:pass@host:port/db (replicas share one)", "winnow-service/winnow.db")
    .option("--storage <dir|url>", "artifact folder, or s3://bucket/prefix", "winnow-service/artifacts")
    .option("--s3-endpoint <url>", "S3-compatible endpoint, e.g. http://minio:9000 (default $WINNOW_S3_ENDPOINT, else AWS)")
    .option("--s3-path-style", "path-style S3 addressing (default on with a custom endpoint; $WINNOW_S3_PATH_STYLE)")
    .option("--s3-region <region>", "S3 region (default $AWS_REGION, else us-east-1)")
    .option("--s3-part-size <MiB>", "multipart upload part size for artifacts in S3", "16")
    .option("--no-storage-redirect", "stream downloads through the server instead of redirecting to presigned S3 URLs")
    .option("--datasource-root <dir>", "folder that datasets' datasources are relative to", ".")
    .option("--no-datasource-check", "accept datasets whose datasource folder this server cannot see (data mounted on the workers only)")
    .option("--allow-root <dir>", "a folder scheduled configs may name by absolute path besides the dataset's datasource (repeatable; give workers the same --allow-root)", (v: string, a: string[]) => [...a, v], [] as string[])
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("--port <n>", "port (0 = any free port)", "8470")
    .option("--public-url <url>", "base URL put into signed artifact URLs (default http://host:port)")
    .option("--heartbeat-timeout <seconds>", "a worker silent this long has its running runs ended CRASHED", "60")
    .addHelpText("after", "\nCreate API tokens with `winnow token create --database <file>`; workers connect with `winnow worker`.")
    .action(async (o: {
      database: string; storage: string; datasourceRoot: string; host: string; port: string; publicUrl?: string; heartbeatTimeout: string;
      s3Endpoint?: string; s3PathStyle?: boolean; s3Region?: string; s3PartSize: string; storageRedirect: boolean; datasourceCheck: boolean; allowRoot: string[];
    }) => {
      const { CliError, EXIT } = await import("./index.js");
      const port = Number(o.port);
      const timeout = Number(o.heartbeatTimeout);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError(`--port: expected an integer 0–65535, got ${JSON.stringify(o.port)}`, EXIT.usage);
      if (!(timeout > 0)) throw new CliError(`--heartbeat-timeout: expected seconds > 0, got ${JSON.stringify(o.heartbeatTimeout)}`, EXIT.usage);
      const partMiB = Number(o.s3PartSize);
      if (!(partMiB >= 5 && partMiB <= 5120)) throw new CliError(`--s3-part-size: expected MiB between 5 and 5120 (S3's limits), got ${JSON.stringify(o.s3PartSize)}`, EXIT.usage);
      const { serve } = await import("../server/serve.js");
      const s = await serve({
        database: o.database, storage: o.storage, datasourceRoot: o.datasourceRoot, host: o.host, port, publicUrl: o.publicUrl, heartbeatTimeoutMs: timeout * 1000,
        s3: { endpoint: o.s3Endpoint, forcePathStyle: o.s3PathStyle, region: o.s3Region, partSize: partMiB * 1024 * 1024 }, storageRedirect: o.storageRedirect,
        allowRoots: o.allowRoot, datasourceCheck: o.datasourceCheck,
      });
      process.stdout.write(`winnow serve: listening on ${s.url} (OpenAPI at ${s.url}/openapi.json)\n`);
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          s.close().then(resolve, resolve);
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
      });
    });
}
