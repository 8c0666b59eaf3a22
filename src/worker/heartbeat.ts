// The worker's heartbeat: a POST every period, whatever it is doing. A failed beat is not retried:
// the next one comes a period later, and the server's timeout spans several periods.
import type { ApiHttp } from "../client/http.js";

/** Starts beating; the returned function stops it. */
export function startHeartbeat(http: ApiHttp, workerId: string, periodMs: number): () => void {
  const beat = setInterval(() => {
    http.json("POST", `/v1/workers/${workerId}/heartbeat`, {}, { timeoutMs: periodMs * 2 }).catch(() => {});
  }, periodMs);
  return () => clearInterval(beat);
}
