// An HTTP(S) GET that goes through a UrlGate (src/run/policy.ts) at every hop: the scheme and literal
// addresses are checked before connecting, host names are resolved by the gate's lookup (the socket
// connects to the address that was checked), and redirects are followed by hand so each new
// location is checked again. Without a policy the gate lets everything through (`winnow run`).
import * as http from "node:http";
import * as https from "node:https";
import type { UrlGate } from "./policy.js";
import { WinnowError } from "../util/errors.js";

export const MAX_REDIRECTS = 5;

export class TooManyRedirects extends WinnowError {
  constructor(message: string, where?: string) {
    super("download", message, { where });
  }
}

/** GETs `url`, following up to MAX_REDIRECTS redirects; resolves with the final response (any status). */
export async function safeGet(url: string, gate: UrlGate, signal: AbortSignal): Promise<http.IncomingMessage> {
  let u = new URL(url);
  for (let hop = 0; ; hop++) {
    gate.check(u);
    const res = await once(u, gate, signal);
    const loc = res.headers.location;
    if (res.statusCode && res.statusCode >= 300 && res.statusCode < 400 && res.statusCode !== 304 && loc) {
      res.resume();
      if (hop >= MAX_REDIRECTS) throw new TooManyRedirects(`more than ${MAX_REDIRECTS} redirects`);
      u = new URL(loc, u);
      continue;
    }
    return res;
  }
}

// agent: false: no kept-alive socket from an earlier request is reused, so every hop connects through the gate.
function once(u: URL, gate: UrlGate, signal: AbortSignal): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const mod = u.protocol === "https:" ? https : http;
    const req = mod.request(u, { method: "GET", lookup: gate.lookup, agent: false, signal, headers: { "accept-encoding": "identity" } }, resolve);
    req.on("error", reject);
    req.end();
  });
}
