// A run's end message as the server stores it and the web UI shows it: the worker's absolute paths
// are this machine's business, so a path in the run's folder reads relative to it, one under the
// datasource root relative to that root (as datasets name their datasource: "imgs/a.png"), and the
// rest of the work dir relative to it. The worker's own log keeps the message as written.
import * as path from "node:path";

export interface WorkerDirs {
  /** The run's job folder (output, home, spec). */
  runDir: string;
  /** Real path of the datasource root. */
  realRoot: string;
  workDir: string;
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

export function relativeMessage(message: string, d: WorkerDirs): string {
  const named: [string, string, string][] = [
    [d.runDir, "run folder/", "the run folder"],
    [d.realRoot, "", "the datasource root"],
    [d.workDir, "work dir/", "the work dir"],
  ];
  // Longest first (the run folder lies in the work dir); never the filesystem root itself.
  const dirs = named.map(([dir, ...rest]) => [path.resolve(dir).replace(/\/+$/, ""), ...rest] as [string, string, string]).filter(([dir]) => dir.length > 1);
  dirs.sort((a, b) => b[0].length - a[0].length);
  if (dirs.length === 0) return message;
  // A directory followed by "/more" becomes its relative form; the bare directory, its name.
  // (A sentence's full stop after a bare directory ends it; "root.bak" is another name.)
  const re = new RegExp(`(${dirs.map(([dir]) => escape(dir)).join("|")})(/|(?=$|[\\s"'(),:;]|\\.(?:\\s|$)))`, "g");
  return message.replace(re, (_m, dir: string, slash: string) => {
    const [, inside, name] = dirs.find(([x]) => x === dir)!;
    return slash ? inside || "" : name;
  });
}
