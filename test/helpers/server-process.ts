// A `winnow serve` in its own process (test/helpers/service-proc.ts) for the security tests: its
// URL once it listens, and its stderr for failure messages. A test file ends with `after(killStarted)`:
// the children's pipes would otherwise keep the test process alive.
import { spawn, type ChildProcess } from "node:child_process";

const started: ChildProcess[] = [];

/** Kills every process this helper started. */
export function killStarted(): void {
  for (const p of started.splice(0)) p.kill("SIGKILL");
}

/** Starts node with `args` (stopped by killStarted). */
export function nodeProcess(args: string[]): ChildProcess {
  const p = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  started.push(p);
  return p;
}

export async function startServerProcess(opts: Record<string, unknown>): Promise<{ proc: ChildProcess; url: string; stderr: string[] }> {
  const proc = nodeProcess(["--import", "tsx", "test/helpers/service-proc.ts", "serve", JSON.stringify({ port: 0, ...opts })]);
  const stderr: string[] = [];
  proc.stderr!.on("data", (b) => stderr.push(String(b)));
  const url = await new Promise<string>((resolve, reject) => {
    proc.stdout!.on("data", (b) => {
      const m = /listening (\S+)/.exec(String(b));
      if (m) resolve(m[1]!);
    });
    proc.on("exit", (c) => reject(new Error(`server exited ${c}: ${stderr.join("")}`)));
  });
  return { proc, url, stderr };
}
