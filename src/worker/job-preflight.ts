// Checks a job's config paths and URLs against the policy before the engine loads (seconds on a busy
// machine), so a refused config ends the run at once. run() checks the same again where it opens or
// fetches them: this is only the early exit, not the enforcement.
import * as fs from "node:fs";
import * as net from "node:net";
import { resolvePolicyPath, openRegularFile, urlGate, PolicyError, type RunPolicy } from "../run/policy.js";
import { redactUrl } from "../run/checkpoint-source.js";

const isUrl = (s: string): boolean => /^[a-z][a-z0-9+.-]*:\/\//i.test(s);

/** Throws PolicyError for the first path or URL of `wc` the policy refuses. */
export async function preflightJobConfig(wc: Record<string, unknown>, policy: RunPolicy, input: string): Promise<void> {
  for (const key of ["embeddings", "checkpoint"] as const) {
    const v = wc[key];
    if (typeof v !== "string" || !v) continue;
    const field = `worker_config.${key}`;
    if (key === "checkpoint" && isUrl(v)) {
      if (policy.trustedUrls?.includes(v) || !/^https?:\/\//i.test(v)) continue; // other schemes: run() names them
      let u: URL;
      try {
        u = new URL(v);
      } catch {
        continue; // run() reports the invalid URL
      }
      const gate = urlGate(policy, field, (x) => redactUrl(x.href));
      gate.check(u);
      const host = u.hostname.replace(/^\[|\]$/g, "");
      if (net.isIP(host)) continue;
      // Resolve only (no connection): the same lookup the download connects through.
      await new Promise<void>((resolve, reject) =>
        gate.lookup(host, { all: true } as never, (err) => (err && (err as { code?: string }).code === "EPOLICY" ? reject(new PolicyError(err.message)) : resolve())),
      );
      continue;
    }
    const real = resolvePolicyPath(v, field, policy, input);
    fs.closeSync(openRegularFile(real, field));
  }
}
