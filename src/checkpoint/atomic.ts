// Checkpoint files are written through the one atomic writer; its errors become CheckpointError("IO").
import { writeFileAtomic as writeAtomic } from "../util/atomic.js";
import { CheckpointError } from "./errors.js";

/** Writes chunks to `target` atomically (see util/atomic.ts). */
export function writeFileAtomic(target: string, chunks: readonly Uint8Array[]): void {
  try {
    writeAtomic(target, chunks);
  } catch (e) {
    throw new CheckpointError(`cannot write ${target}: ${((e as Error).cause as Error | undefined)?.message ?? (e as Error).message}`, "IO", { cause: e });
  }
}
