// The CLI's exit codes, looked up in one table from an error's code: 0 ok, 1 the run failed or a file
// cannot be used, 2 bad config or usage, 130 aborted (as a shell reports Ctrl-C).
import { WinnowError, type ErrorCode } from "../util/errors.js";

export const EXIT = { ok: 0, failed: 1, usage: 2, aborted: 130 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The CLI's own codes (CliError), besides WinnowError's: a usage mistake, a failed command. */
export type CliErrorCode = "usage" | "failed" | "aborted";

/** Codes not listed exit with EXIT.failed (a module's finer codes, e.g. the checkpoint reader's "CRC", too). */
const EXIT_BY_CODE: Partial<Record<ErrorCode | CliErrorCode, ExitCode>> = {
  usage: EXIT.usage,
  invalid_config: EXIT.usage,
  invalid_input: EXIT.usage,
  aborted: EXIT.aborted,
};

/** The exit code for an error that reached the top of the CLI. */
export function exitCodeFor(e: unknown): ExitCode {
  if (!(e instanceof WinnowError)) return EXIT.failed;
  return EXIT_BY_CODE[e.code as ErrorCode | CliErrorCode] ?? EXIT.failed;
}

/** The CliError code that exits with `exitCode` (the inverse of the table, for CliError's constructor). */
export function cliCodeFor(exitCode: number): CliErrorCode {
  return exitCode === EXIT.usage ? "usage" : exitCode === EXIT.aborted ? "aborted" : "failed";
}
