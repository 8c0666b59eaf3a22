// Typed errors of the API client: the status picks the class, the server's message, (400) the
// offending field and its error code are carried unchanged. They are WinnowErrors, so a program
// handles a client error and a local one alike by `code`.
import { WinnowError, type ErrorCode } from "../util/errors.js";

/** The code a status means when the server's answer names none (an older server, a proxy's error page). */
const CODE_OF_STATUS: Record<number, ErrorCode> = {
  400: "invalid_input", 401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict",
  413: "too_large", 503: "busy", 507: "storage_full",
};

export class ApiError extends WinnowError {
  constructor(readonly status: number, message: string, readonly field: string | null = null, readonly method = "", readonly path = "", code?: ErrorCode) {
    super(code ?? CODE_OF_STATUS[status] ?? "internal", message, field === null ? {} : { where: field });
    this.name = "ApiError";
  }
}
/** 400: invalid input; `field` names it (e.g. lightly_config.trainer.max_epochs). */
export class ApiValidationError extends ApiError {
  override name = "ApiValidationError";
}
/** 401: missing, wrong or revoked token. */
export class ApiUnauthorizedError extends ApiError {
  override name = "ApiUnauthorizedError";
}
/** 403: refused (e.g. a signed URL that expired or was altered). */
export class ApiForbiddenError extends ApiError {
  override name = "ApiForbiddenError";
}
/** 404: does not exist, or belongs to another token's owner. */
export class ApiNotFoundError extends ApiError {
  override name = "ApiNotFoundError";
}
/** 409: conflicts with the current state (name taken, run already ended…). */
export class ApiConflictError extends ApiError {
  override name = "ApiConflictError";
}

const ERROR_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  "invalid_config", "invalid_input", "not_found", "conflict", "too_large", "storage_full", "busy",
  "unauthorized", "forbidden", "checkpoint", "download", "io", "aborted", "internal",
]);

/** The server's `code` when it is one this client knows (a newer server's new code falls back on the status). */
export const knownErrorCode = (code: unknown): ErrorCode | undefined =>
  typeof code === "string" && ERROR_CODES.has(code) ? (code as ErrorCode) : undefined;

export function apiError(status: number, message: string, field: string | null, method: string, path: string, code?: ErrorCode): ApiError {
  const C = status === 400 ? ApiValidationError : status === 401 ? ApiUnauthorizedError : status === 403 ? ApiForbiddenError
    : status === 404 ? ApiNotFoundError : status === 409 ? ApiConflictError : ApiError;
  return new C(status, message, field, method, path, code);
}
