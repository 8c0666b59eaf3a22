// End states the server could not be told (unreachable past the budget): sent once more before each
// claim, so a run this worker has finished does not stay "going" for ever while it heartbeats.
import type { ApiHttp } from "../client/http.js";
import type { RunState } from "../db/records.js";
import { describeError, isTransientError } from "./retry.js";

export class UnsentEnds {
  private readonly ends = new Map<string, { state: RunState; message: string }>();

  constructor(private readonly log: (line: string) => void) {}

  set(runId: string, state: RunState, message: string): void {
    this.ends.set(runId, { state, message });
  }

  /** Sends each in turn; stops at the first that finds the server still unreachable. */
  async sendAll(http: ApiHttp): Promise<void> {
    for (const [runId, body] of this.ends) {
      try {
        await http.json("PATCH", `/v1/runs/${runId}`, body);
        this.ends.delete(runId);
        this.log(`run ${runId}: ${body.state} set after all`);
      } catch (e) {
        if (isTransientError(e)) return;
        this.ends.delete(runId);
        this.log(`run ${runId}: the late end state ${body.state} was refused: ${describeError(e)}`);
      }
    }
  }
}
