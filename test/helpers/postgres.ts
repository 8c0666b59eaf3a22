// A throwaway PostgreSQL cluster for the tests: initdb into a temp folder, started with pg_ctl on
// 127.0.0.1 and a free port (no system service, nothing outside the temp folder). PostgreSQL refuses
// to run as root, so as root (CI) the folder is handed to the `postgres` user and the server
// binaries run as that user; otherwise they run as the current user.
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

export interface PgCluster {
  /** postgres://winnow@127.0.0.1:PORT/ (add a database name). */
  base: string;
  port: number;
  /** Creates a fresh database and answers its URL. */
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
}

/** The folder holding initdb/pg_ctl: $PG_BIN, `pg_config --bindir`, or Debian's newest /usr/lib/postgresql/N/bin. */
export function pgBinDir(): string {
  const candidates: string[] = [];
  if (process.env.PG_BIN) candidates.push(process.env.PG_BIN);
  const debian = "/usr/lib/postgresql";
  if (fs.existsSync(debian)) {
    const versions = fs.readdirSync(debian).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => path.join(debian, v, "bin")));
  }
  const cfg = spawnSync("pg_config", ["--bindir"], { encoding: "utf8" });
  if (cfg.status === 0) candidates.push(cfg.stdout.trim());
  const found = candidates.find((d) => fs.existsSync(path.join(d, "initdb")) && fs.existsSync(path.join(d, "pg_ctl")));
  if (!found) throw new Error(`PostgreSQL server binaries (initdb, pg_ctl) not found in ${candidates.join(", ") || "PG_BIN, /usr/lib/postgresql/*/bin or pg_config --bindir"}: run scripts/setup.sh (apt package postgresql)`);
  return found;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startPostgres(opts: { maxConnections?: number } = {}): Promise<PgCluster> {
  const bin = pgBinDir();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "winnow-pg-"));
  const data = path.join(root, "data");
  const asRoot = process.getuid?.() === 0;
  const sh = (cmd: string, args: string[]): void => {
    const [file, argv] = asRoot ? ["runuser", ["-u", "postgres", "--", cmd, ...args]] : [cmd, args];
    const r = spawnSync(file, argv, { encoding: "utf8", cwd: root, timeout: 120_000 });
    if (r.status !== 0) throw new Error(`${path.basename(cmd)} failed (${r.status ?? r.signal}): ${r.stderr || r.stdout}`);
  };
  if (asRoot) execFileSync("chown", ["postgres:postgres", root]);
  sh(path.join(bin, "initdb"), ["-D", data, "-U", "winnow", "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C"]);
  // A handful of tries: another process may take the port between freePort() and the start.
  let port = 0;
  for (let attempt = 0; attempt < 5; attempt++) {
    port = await freePort();
    const o = [
      `-p ${port}`, "-c listen_addresses=127.0.0.1", `-c unix_socket_directories=${root}`, `-c max_connections=${opts.maxConnections ?? 200}`,
      "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off", "-c shared_buffers=32MB",
    ].join(" ");
    try {
      sh(path.join(bin, "pg_ctl"), ["-D", data, "-o", o, "-l", path.join(root, "log"), "-w", "-t", "60", "start"]);
      break;
    } catch (e) {
      if (attempt === 4) throw new Error(`${(e as Error).message}\n${fs.existsSync(path.join(root, "log")) ? fs.readFileSync(path.join(root, "log"), "utf8").slice(-2000) : ""}`);
    }
  }
  // Stopped at the latest when the test process exits, failed tests included (all synchronous).
  let stopped = false;
  const stopNow = (): void => {
    if (stopped) return;
    stopped = true;
    process.off("exit", stopNow);
    try {
      sh(path.join(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "-t", "30", "stop"]);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  };
  process.on("exit", stopNow);
  const base = `postgres://winnow@127.0.0.1:${port}/`;
  const pg = (await import("pg")).default;
  return {
    base, port,
    async createDatabase(name) {
      if (!/^[a-z_][a-z0-9_]{0,40}$/.test(name)) throw new Error(`database name ${JSON.stringify(name)}: expected [a-z_][a-z0-9_]*`);
      const c = new pg.Client({ connectionString: `${base}postgres` });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE ${name}`);
      } finally {
        await c.end();
      }
      return `${base}${name}`;
    },
    async stop() {
      stopNow();
    },
  };
}
