// Starts N processes as the ranks of one group on loopback, with torchrun's environment and a free port.
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const RANK_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "dist-rank.ts");

/** A port nobody listens on right now (the OS's choice). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface Rank {
  child: ChildProcess;
  /** JSON lines the rank printed so far. */
  lines: unknown[];
  stderr: string;
  exit: Promise<number | null>;
  /** Resolves with the first line matching `pred`. */
  line(pred: (o: any) => boolean): Promise<any>;
}

export function startRank(cmd: string, args: string[], env: Record<string, string>): Rank {
  const child = spawn(cmd, args, { env: { ...process.env, OMP_NUM_THREADS: "1", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const lines: unknown[] = [];
  const waiters: { pred: (o: any) => boolean; resolve: (o: unknown) => void }[] = [];
  let buf = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const text = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let o: unknown;
      try {
        o = JSON.parse(text);
      } catch {
        continue;
      }
      lines.push(o);
      for (const w of waiters.slice()) if (w.pred(o)) (waiters.splice(waiters.indexOf(w), 1), w.resolve(o));
    }
  });
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const line = (pred: (o: any) => boolean) =>
    new Promise<any>((resolve, reject) => {
      const hit = lines.find(pred);
      if (hit) return resolve(hit);
      waiters.push({ pred, resolve });
      exit.then((code) => reject(new Error(`rank exited (${code}) before printing the expected line; stderr:\n${stderr}`)));
    });
  return { child, lines, get stderr() { return stderr; }, exit, line };
}

/** Starts `world` Winnow ranks running dist-rank.ts's `scenario`. */
export async function startNodeRanks(scenario: string, world: number, env: Record<string, string> = {}): Promise<Rank[]> {
  const port = await freePort();
  return Array.from({ length: world }, (_, rank) =>
    startRank(process.execPath, ["--import", "tsx", RANK_SCRIPT, scenario], {
      WORLD_SIZE: String(world), RANK: String(rank), LOCAL_RANK: String(rank), MASTER_ADDR: "127.0.0.1", MASTER_PORT: String(port), ...env,
    }),
  );
}
