// The one config error: every config section (lightly_config, worker_config, selection_config, the
// run file) reports all its problems at once as a list of issues with full dotted paths. The section
// classes below only differ in their heading, and stay separate classes so callers can tell which
// section was wrong with instanceof.
import { WinnowError } from "../util/errors.js";
import type { ConfigIssue } from "./issues.js";

export class ConfigError extends WinnowError<"invalid_config"> {
  constructor(
    readonly issues: ConfigIssue[],
    heading: string,
    /** The section (or file) the issues belong to, when they do not name one field alone. */
    section: string,
  ) {
    super("invalid_config", `${heading}:\n${issues.map((i) => `  - ${i.path}: ${i.message}`).join("\n")}`, {
      where: issues.length === 1 && !/^\(.*\)$/.test(issues[0].path) ? issues[0].path : section,
    });
  }
}

export class LightlyConfigError extends ConfigError {
  constructor(issues: ConfigIssue[]) {
    super(issues, "invalid lightly_config", "lightly_config");
  }
}

export class WorkerConfigError extends ConfigError {
  constructor(issues: ConfigIssue[]) {
    super(issues, "invalid worker_config", "worker_config");
  }
}

export class SelectionConfigError extends ConfigError {
  constructor(issues: ConfigIssue[]) {
    super(issues, "invalid selection_config", "selection_config");
  }
}

/** The run file (or the overrides given with it); `source` is the file when there is one. */
export class RunConfigError extends ConfigError {
  constructor(issues: ConfigIssue[], readonly source: string | null = null) {
    super(issues, `invalid run config${source ? ` (${source})` : ""}`, source ?? "run config");
  }
}
