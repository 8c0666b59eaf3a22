// What a server command prints when a call fails: the client's errors as one line naming the server,
// with the exit code of the CLI's table (an argument the server refuses (400) is a usage error, the rest
// failures).
import { ApiConflictError, ApiError, ApiUnauthorizedError, ApiValidationError } from "../client/index.js";
import { CliError, EXIT } from "./index.js";

/** `e` as a CliError; `notFound` words a 404 (e.g. "run abc not found"). Errors that are not the server's pass through. */
export function serverCliError(e: unknown, server: string, notFound?: (message: string) => string): unknown {
  if (e instanceof CliError) return e;
  if (e instanceof ApiUnauthorizedError) return new CliError(`${server} refused the token (401): ${e.message}`);
  if (e instanceof ApiValidationError) return new CliError(e.message, EXIT.usage);
  if (e instanceof ApiError && e.status === 404 && notFound) return new CliError(notFound(e.message));
  if (e instanceof ApiConflictError) return new CliError(e.message);
  if (e instanceof ApiError) return new CliError(`${server}: HTTP ${e.status}: ${e.message}`);
  if (e instanceof TypeError && /fetch failed/.test(e.message)) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    return new CliError(`cannot reach ${server}: ${cause?.code ?? cause?.message ?? e.message}`);
  }
  return e;
}

/** The server URL a command talks to: --server, $WINNOW_SERVER_URL, or the default; a non-URL is a usage error. */
export function serverUrl(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const url = flag ?? env.WINNOW_SERVER_URL ?? "http://127.0.0.1:8470";
  if (!/^https?:\/\/[^/]/.test(url)) throw new CliError(`--server: expected an http(s) URL such as http://127.0.0.1:8470, got ${JSON.stringify(url)}`, EXIT.usage);
  return url.replace(/\/+$/, "");
}
