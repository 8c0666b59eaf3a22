// Scheduled configs are checked with the same schemas as `winnow run` (src/config), so a config the
// CLI refuses is refused here too, with the same field paths and "did you mean" hints. The server
// stores what the client sent (Lightly's keys, unchanged) and the worker resolves it again.
import { resolveRunConfig, RunConfigError } from "../config/run-config.js";
import type { ConfigIssue } from "../config/lightly-config.js";

export interface ScheduledConfigInput {
  worker_config?: unknown;
  selection_config?: unknown;
  lightly_config?: unknown;
}

/** Null when valid, else every problem (path like `lightly_config.trainer.max_epochs`). */
export function checkScheduledConfig(c: ScheduledConfigInput): ConfigIssue[] | null {
  try {
    resolveRunConfig({ worker_config: c.worker_config ?? {}, selection_config: c.selection_config ?? {}, lightly_config: c.lightly_config ?? {} });
    return null;
  } catch (e) {
    if (e instanceof RunConfigError) return e.issues;
    throw e;
  }
}
