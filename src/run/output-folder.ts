// Creates a run's output folder, checking where it would go first. Node's recursive mkdir loops
// forever (ignoring signals) on a kernel filesystem such as /proc, where mkdir answers ENOENT; so
// the nearest existing folder is checked and the missing levels are made one at a time.
import * as fs from "node:fs";
import * as path from "node:path";
import { WinnowError } from "../util/errors.js";

// statfs magic numbers of filesystems that hold no user files (linux/magic.h).
const KERNEL_FS = new Map<number, string>([
  [0x9fa0, "proc"], [0x62656572, "sysfs"], [0x1cd1, "devpts"], [0x27e0eb, "cgroup"], [0x63677270, "cgroup2"],
  [0x64626720, "debugfs"], [0x73636673, "securityfs"], [0x74726163, "tracefs"], [0xcafe4a11, "bpf"],
]);

/** The output folder given cannot be used (not empty, a file, on a kernel filesystem...): a usage error. */
export class OutputFolderError extends WinnowError {
  constructor(message: string, where?: string) {
    super("invalid_input", message, { where });
  }
}

function lstatOrNull(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch {
    return null;
  }
}

/** Makes `output` (absolute), which must be new or an empty folder; throws OutputFolderError saying why not. */
export function createOutputFolder(output: string): void {
  const missing: string[] = [];
  let dir = output;
  let st = lstatOrNull(dir);
  while (!st) {
    missing.unshift(dir);
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
    st = lstatOrNull(dir);
  }
  const real = st ? fs.realpathSync(dir) : dir;
  if (!st || !fs.statSync(real).isDirectory()) throw new OutputFolderError(`output folder ${output}: ${dir} is not a folder`, output);
  const kind = KERNEL_FS.get(Number(fs.statfsSync(real).type));
  if (kind) throw new OutputFolderError(`output folder ${output}: ${dir} is on ${kind}, a kernel filesystem that cannot hold files; give a folder on a disk (--output)`, output);
  if (missing.length === 0 && fs.readdirSync(real).length > 0) {
    throw new OutputFolderError(`output folder ${output} exists and is not empty: give a new or empty folder (--output)`, output);
  }
  for (const d of missing) {
    try {
      fs.mkdirSync(d);
    } catch (e) {
      throw new OutputFolderError(`output folder ${output}: cannot create ${d}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, output);
    }
  }
}
