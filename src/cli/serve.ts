// `winnow serve`: the HTTP API over a SQLite file (PostgreSQL with issue 9) and a local artifact folder.
import type { Command } from "commander";

export function register(program: Command): void {
  program
    .command("serve")
    .description("Start the Winnow service API (scheduled runs, workers, runs, artifacts). See docs/service.md.")
    .option("--database <file>", "SQLite database file", "winnow-service/winnow.db")
    .option("--storage <dir>", "artifact folder", "winnow-service/artifacts")
    .option("--datasource-root <dir>", "folder that datasets' datasources are relative to", ".")
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("--port <n>", "port (0 = any free port)", "8470")
    .option("--public-url <url>", "base URL put into signed artifact URLs (default http://host:port)")
    .option("--heartbeat-timeout <seconds>", "a worker silent this long has its running runs ended CRASHED", "60")
    .addHelpText("after", "\nCreate API tokens with `winnow token create --database <file>`; workers connect with `winnow worker`.")
    .action(async (o: { database: string; storage: string; datasourceRoot: string; host: string; port: string; publicUrl?: string; heartbeatTimeout: string }) => {
      const { CliError, EXIT } = await import("./index.js");
      const port = Number(o.port);
      const timeout = Number(o.heartbeatTimeout);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError(`--port: expected an integer 0–65535, got ${JSON.stringify(o.port)}`, EXIT.usage);
      if (!(timeout > 0)) throw new CliError(`--heartbeat-timeout: expected seconds > 0, got ${JSON.stringify(o.heartbeatTimeout)}`, EXIT.usage);
      const { serve } = await import("../server/serve.js");
      const s = await serve({ database: o.database, storage: o.storage, datasourceRoot: o.datasourceRoot, host: o.host, port, publicUrl: o.publicUrl, heartbeatTimeoutMs: timeout * 1000 });
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
