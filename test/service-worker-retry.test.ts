// What the worker retries: the server's 5xx and network failures, never a 4xx or a local file error.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import { ApiError, ApiConflictError } from "../src/client/errors.js";
import { isTransientError } from "../src/worker/worker.js";

test("server 5xx and connection failures are retried; 4xx and a vanished local file are not", async () => {
  assert.equal(isTransientError(new ApiError(503, "busy")), true);
  assert.equal(isTransientError(new ApiError(500, "internal")), true);
  assert.equal(isTransientError(new ApiConflictError(409, "run has ended")), false);
  assert.equal(isTransientError(new ApiError(404, "not found")), false);
  // A port with nothing listening: fetch's own error (TypeError "fetch failed", cause ECONNREFUSED).
  const srv = http.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  const refused = await fetch(`http://127.0.0.1:${port}/`).then(() => null, (e: unknown) => e);
  assert.ok(refused instanceof Error);
  assert.equal(isTransientError(refused), true);
  // An epoch checkpoint removed by top-k rotation before its upload: stat's ENOENT.
  const gone = await fs.promises.stat("/nonexistent/winnow/lightly_epoch_0.ckpt").then(() => null, (e: unknown) => e);
  assert.equal((gone as NodeJS.ErrnoException).code, "ENOENT");
  assert.equal(isTransientError(gone), false);
});
