// The one place errors become HTTP answers: a WinnowError's code picks the status from one table, the
// body is always { error: status, message, field?, code? } (the client reads status, message, field
// and code). fastify's own errors (body too large, handler past its budget) keep their statuses.
import type { FastifyError, FastifyInstance } from "fastify";
import { WinnowError, type ErrorCode } from "../util/errors.js";
import { HttpError } from "./http-error.js";

export const HTTP_STATUS_OF_CODE: Record<ErrorCode, number> = {
  invalid_config: 400,
  invalid_input: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  checkpoint: 422,
  aborted: 499,
  internal: 500,
  io: 500,
  download: 502,
  busy: 503,
  storage_full: 507,
};

export interface ErrorAnswer {
  status: number;
  body: { error: number; message: string; field?: string; code?: string };
  /** Seconds a 503's client should wait before retrying. */
  retryAfterSec?: number;
}

type AnyError = Error & { statusCode?: number; code?: string; retryAfterSec?: number };

function statusOf(err: AnyError): number {
  if (err instanceof HttpError) return err.status;
  if (err instanceof WinnowError) return HTTP_STATUS_OF_CODE[err.code as ErrorCode] ?? 500;
  if (err.code === "FST_ERR_CTP_BODY_TOO_LARGE") return 413;
  // 503: fastify's handler budget (time-budgets.ts); other 4xx of fastify's own (bad JSON, …) as they are.
  if (err.statusCode === 503) return 503;
  return err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
}

/** The status and body the API answers `err` with. */
export function errorAnswer(err: AnyError): ErrorAnswer {
  const status = statusOf(err);
  const message = status === 500 ? `internal error: ${err.message}` : err.message;
  const body: ErrorAnswer["body"] = { error: status, message };
  if (err instanceof HttpError && err.field) body.field = err.field;
  if (err instanceof WinnowError) body.code = err.code;
  return status === 503 ? { status, body, retryAfterSec: err.retryAfterSec ?? 5 } : { status, body };
}

export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    // An upload refused part-way leaves unread body bytes on the connection: close it, or the
    // client's next request on that keep-alive connection would wait behind them.
    if (!req.raw.complete) reply.header("connection", "close");
    const a = errorAnswer(err);
    if (a.retryAfterSec !== undefined) reply.header("retry-after", String(a.retryAfterSec));
    return reply.code(a.status).send(a.body);
  });
}
