// The error `run()` throws when a run ends FAILED or ABORTED: the record as the index holds it, and the
// paths of the folder it left. Its code is the cause's (a WinnowError's), "aborted", or "internal".
import { WinnowError } from "../util/errors.js";
import type { RunPaths } from "./paths.js";
import type { RunRecord } from "./store.js";

/** A run that ended FAILED or ABORTED; `record` is what the index holds. */
export class RunError extends WinnowError<string> {
  constructor(message: string, readonly record: RunRecord, readonly paths: RunPaths, override readonly cause?: unknown) {
    const code = record.state === "ABORTED" ? "aborted" : cause instanceof WinnowError ? cause.code : "internal";
    super(code, message, { where: paths.output, cause });
  }
}
