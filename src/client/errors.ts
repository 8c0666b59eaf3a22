// Typed errors of the API client: the status picks the class, the server's message and (400) the
// offending field are carried unchanged.
export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly field: string | null = null, readonly method = "", readonly path = "") {
    super(message);
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

export function apiError(status: number, message: string, field: string | null, method: string, path: string): ApiError {
  const C = status === 400 ? ApiValidationError : status === 401 ? ApiUnauthorizedError : status === 403 ? ApiForbiddenError
    : status === 404 ? ApiNotFoundError : status === 409 ? ApiConflictError : ApiError;
  return new C(status, message, field, method, path);
}
