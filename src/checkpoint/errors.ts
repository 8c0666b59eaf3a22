// Every failure this module reports is a CheckpointError, so callers can tell "bad or unsafe file"
// apart from bugs in their own code with one instanceof check. Its codes are finer than WinnowError's
// ("checkpoint" to the CLI and server, which fall back on the class for codes they do not list).
import { WinnowError } from "../util/errors.js";

export type CheckpointErrorCode =
  | "IO" // the file could not be read or written
  | "FORMAT" // not a checkpoint of a supported kind (zip/pickle/safetensors structure is wrong)
  | "CRC" // a zip record's bytes do not match its CRC32
  | "UNSAFE_GLOBAL" // the pickle names something dangerous (refused even in lenient mode)
  | "UNKNOWN_GLOBAL" // the pickle names a class/function outside the allowlist (strict mode)
  | "PICKLE" // malformed pickle stream or a disallowed operation
  | "TENSOR" // a tensor/storage description is inconsistent or out of bounds
  | "LIMIT" // a resource limit (size, depth, allocation budget) would be exceeded
  | "UNSUPPORTED" // valid but not supported here (big-endian, compressed zip entries, odd dtypes)
  | "INVALID_ARGUMENT" // bad input to a writer
  | "INTERNAL"; // an unexpected exception converted at the API boundary (a bug: please report)

export class CheckpointError extends WinnowError<CheckpointErrorCode> {
  constructor(message: string, code: CheckpointErrorCode = "FORMAT", options: { cause?: unknown; where?: string } = {}) {
    super(code, message, options);
  }
}

/** Prefixes the file name (when known) so every message says which file is bad. */
export function withFileName(err: CheckpointError, name: string | undefined): CheckpointError {
  if (!name || err.message.startsWith(`${name}: `)) return err;
  const e = new CheckpointError(`${name}: ${err.message}`, err.code, { cause: err.cause, where: name });
  e.stack = err.stack;
  return e;
}

/**
 * Runs `fn` and guarantees only CheckpointErrors escape. Unexpected exceptions are a last resort:
 * they become code "INTERNAL" so the fuzzer can still count them as crashes.
 */
export function guard<T>(name: string | undefined, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof CheckpointError) throw withFileName(e, name);
    const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    throw withFileName(new CheckpointError(`internal error while processing checkpoint: ${msg}`, "INTERNAL", { cause: e }), name);
  }
}

/**
 * A short, bounded description of an untrusted value for error messages. Never calls String() on
 * containers: Array.prototype.toString recurses, and a deeply nested tuple would overflow the stack.
 */
export function show(x: unknown): string {
  switch (typeof x) {
    case "string":
      return JSON.stringify(x.length > 60 ? `${x.slice(0, 60)}…` : x);
    case "number":
    case "boolean":
    case "bigint":
      return String(x);
    case "undefined":
      return "undefined";
    default:
      if (x === null) return "None";
      if (Array.isArray(x)) return Object.isFrozen(x) ? `a tuple of ${x.length}` : `a list of ${x.length}`;
      if (x instanceof Map) return `a dict of ${x.size}`;
      if (x instanceof Uint8Array) return `${x.length} bytes`;
      return `a ${(x as object).constructor?.name ?? "object"}`;
  }
}
