// The API's refusals as WinnowErrors. Most code throws a WinnowError with a fitting code and the error
// handler (error-handler.ts) looks the status up; HttpError is for the few answers whose status says
// more than the code (422 for an artifact that cannot be mapped) and for naming the request field.
import { WinnowError, type ErrorCode } from "../util/errors.js";

/** The code an explicit status stands for (the inverse of the handler's table, plus 422). */
const CODE_OF_STATUS: Record<number, ErrorCode> = {
  400: "invalid_input", 401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict",
  413: "too_large", 422: "invalid_input", 503: "busy", 507: "storage_full",
};

/** An error the API answers with this status, its message and (400) the offending request field. */
export class HttpError extends WinnowError {
  /** fastify reads statusCode (a validation error keeps it); the handler answers `status`. */
  readonly statusCode: number;

  constructor(readonly status: number, message: string, readonly field?: string) {
    super(CODE_OF_STATUS[status] ?? "internal", message, { where: field });
    this.statusCode = status;
  }
}

export const notFound = (what: string, id: string): HttpError => new HttpError(404, `${what} ${JSON.stringify(id)} not found`);
