// One error base for Winnow: every error a user can meet carries a stable `code` (what went wrong, for
// programs: the CLI's exit code and the server's HTTP status are looked up from it in one place each)
// and, where it concerns one, the file or config field (`where`) it is about.

/** Stable error codes. Add one only when callers need to tell it apart from the others. */
export type ErrorCode =
  | "invalid_config" // a config key or value (where = its path, e.g. lightly_config.loader.batch_size)
  | "invalid_input" // a request body, an argument, an input file's content
  | "not_found" // a run, dataset, file or tag that does not exist
  | "conflict" // the state does not allow it (run already ended, name taken)
  | "too_large" // a body, file or download over its limit
  | "storage_full" // the disk or bucket refused the write
  | "busy" // bounded work is full; try again later
  | "unauthorized"
  | "forbidden" // a path or URL outside what the run may reach
  | "checkpoint" // a checkpoint file cannot be read, written or does not fit the model
  | "download" // fetching model weights failed
  | "io" // a file system operation failed
  | "aborted"
  | "internal";

/**
 * The base of every error Winnow reports on purpose. A module with finer codes of its own (the checkpoint
 * reader's "CRC", "UNSAFE_GLOBAL", ...) narrows `C`; callers that map codes to exit codes or HTTP statuses
 * fall back on the error's class for codes they do not list.
 */
export class WinnowError<C extends string = ErrorCode> extends Error {
  /** The file, folder or config field the error is about, when there is one. */
  readonly where?: string;

  constructor(
    readonly code: C,
    message: string,
    opts: { where?: string; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    if (opts.where !== undefined) this.where = opts.where;
  }
}
