// What a run config may reach when it is untrusted input (a scheduled run executed by `winnow worker`).
// Local paths resolve only inside allowed roots (symlinks may not lead out) and only regular files
// are opened, without ever blocking on a FIFO or device; URLs are http(s) to hosts whose every
// address is public, and the connection goes to the address that was checked. `winnow run` on the
// user's own machine passes no policy: the user's own config is trusted.
// Engine-free: no torch import.
import * as fs from "node:fs";
import * as path from "node:path";
import * as dns from "node:dns";
import * as net from "node:net";
import { WinnowError } from "../util/errors.js";

export { openRegularFile, readRegularText } from "../util/regular-file.js";

export interface RunPolicy {
  /** Folders (real paths or not; resolved here) that config paths may lead into. */
  roots: string[];
  /** Origins (`scheme://host[:port]`) fetched without the address check: the worker's own server. */
  allowOrigins?: string[];
  /** Host names (exact, case-insensitive), IP addresses or CIDRs (`10.0.0.0/8`) an operator allows. */
  allowHosts?: string[];
  /** Exact URLs handed out by the worker's server (a checkpoint_run_id's signed URL): fetched unchecked, redirects included. */
  trustedUrls?: string[];
}

/** A path or URL the policy refuses. The message names the field and never quotes file content. */
export class PolicyError extends WinnowError {
  constructor(message: string, where?: string) {
    super("forbidden", message, { where });
  }
}

const realOrSelf = (p: string): string => {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
};

const inside = (p: string, root: string): boolean => p === root || p.startsWith(root.endsWith("/") ? root : `${root}/`);

/** One message for "outside", "missing" and "leads out through a symlink", so a refusal reveals nothing. */
function notReadable(field: string, given: string): PolicyError {
  return new PolicyError(
    `${field}: ${JSON.stringify(given)} is not a file inside the folders this worker lets a run read (the dataset's datasource, the job's folder, --allow-root folders); anything else is refused by policy`,
    field,
  );
}

/**
 * The real path of `given` (relative paths: against `base`), which must lie inside one of the
 * policy's roots after every symlink is followed. Does not open the file.
 */
export function resolvePolicyPath(given: string, field: string, policy: RunPolicy, base: string): string {
  if (given.includes("\0")) throw notReadable(field, given);
  const roots = policy.roots.map(realOrSelf);
  const abs = path.resolve(base, given);
  // Lexically outside: refused without touching the file system.
  if (!roots.some((r) => inside(abs, r))) throw notReadable(field, given);
  let real: string;
  try {
    real = fs.realpathSync(abs);
  } catch {
    throw notReadable(field, given);
  }
  if (!roots.some((r) => inside(real, r))) throw notReadable(field, given);
  return real;
}

/**
 * A folder given relative to the run folder (lightly_config.checkpoint_callback.dirpath): absolute
 * paths and `..` segments are refused, the result is always inside `runFolder`.
 */
export function resolveInRunFolder(given: string, field: string, runFolder: string): string {
  const why = runSubpathProblem(given);
  if (why) throw new PolicyError(`${field}: ${JSON.stringify(given)} refused by policy: ${why}`, field);
  const abs = path.resolve(runFolder, given);
  if (!inside(abs, path.resolve(runFolder))) throw new PolicyError(`${field}: ${JSON.stringify(given)} refused by policy: it leaves the run folder`, field);
  return abs;
}

/** Why `p` cannot be a path relative to a folder it must stay in, or null. Shared with the server's check. */
export function runSubpathProblem(p: string): string | null {
  if (p.includes("\0")) return "it contains a NUL character";
  if (p.startsWith("/") || /^[A-Za-z]:[\\/]/.test(p) || p.startsWith("\\")) return "absolute paths are not allowed (give a folder relative to the run folder)";
  if (p.split(/[\\/]/).includes("..")) return '".." segments are not allowed (the folder must stay inside the run folder)';
  return null;
}

// ---- URLs ----------------------------------------------------------------------------------------

/** Addresses a run may never reach unless an operator allows them. */
const INTERNAL: Array<[string, number, "ipv4" | "ipv6", string]> = [
  ["0.0.0.0", 8, "ipv4", "unspecified"],
  ["10.0.0.0", 8, "ipv4", "private"],
  ["100.64.0.0", 10, "ipv4", "private (carrier-grade NAT)"],
  ["127.0.0.0", 8, "ipv4", "loopback"],
  ["169.254.0.0", 16, "ipv4", "link-local"],
  ["172.16.0.0", 12, "ipv4", "private"],
  ["192.0.0.0", 24, "ipv4", "reserved"],
  ["192.168.0.0", 16, "ipv4", "private"],
  ["198.18.0.0", 15, "ipv4", "reserved"],
  ["224.0.0.0", 4, "ipv4", "multicast"],
  ["240.0.0.0", 4, "ipv4", "reserved"],
  ["::", 128, "ipv6", "unspecified"],
  ["::1", 128, "ipv6", "loopback"],
  ["fc00::", 7, "ipv6", "private"],
  ["fe80::", 10, "ipv6", "link-local"],
  ["fec0::", 10, "ipv6", "site-local"],
  ["ff00::", 8, "ipv6", "multicast"],
];

const parseV4 = (s: string): number[] | null => (net.isIPv4(s) ? s.split(".").map(Number) : null);

/** The IPv4 address embedded in an IPv6 one (mapped ::ffff:a.b.c.d, compatible ::a.b.c.d, NAT64 64:ff9b::/96), or null. */
function embeddedV4(ip6: string): string | null {
  const sock = new net.SocketAddress({ address: ip6, family: "ipv6" });
  const full = expandV6(sock.address);
  if (!full) return null;
  const w = full.map((h) => parseInt(h, 16));
  const v4 = `${w[6]! >> 8}.${w[6]! & 255}.${w[7]! >> 8}.${w[7]! & 255}`;
  const zero5 = w.slice(0, 5).every((x) => x === 0);
  if (zero5 && w[5] === 0xffff) return v4; // ::ffff:a.b.c.d
  if (zero5 && w[5] === 0 && (w[6]! !== 0 || w[7]! > 1)) return v4; // ::a.b.c.d (not :: or ::1)
  if (w[0] === 0x64 && w[1] === 0xff9b && w.slice(2, 6).every((x) => x === 0)) return v4; // NAT64
  return null;
}

function expandV6(a: string): string[] | null {
  let s = a.toLowerCase();
  const m = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (m) {
    const b = parseV4(m[1]!);
    if (!b) return null;
    s = s.slice(0, -m[1]!.length) + `${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, tail] = s.split("::") as [string, string | undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const fill = s.includes("::") ? 8 - h.length - t.length : 0;
  const out = [...h, ...Array(fill).fill("0"), ...t];
  return out.length === 8 ? out : null;
}

/** Why `ip` is internal ("loopback", "private", …), or null when it is a public address. */
export function internalAddressKind(ip: string): string | null {
  const family = net.isIPv4(ip) ? "ipv4" : net.isIPv6(ip) ? "ipv6" : null;
  if (!family) return "not an IP address";
  const v4 = family === "ipv6" ? embeddedV4(ip) : null;
  if (v4) return internalAddressKind(v4);
  for (const [addr, prefix, fam, kind] of INTERNAL) {
    if (fam !== family) continue;
    const bl = new net.BlockList();
    bl.addSubnet(addr, prefix, fam);
    if (bl.check(ip, fam)) return kind;
  }
  return null;
}

/** The operator's --allow-url-host entries as a matcher of (host name, address). */
function allowMatcher(policy: RunPolicy): { host: (h: string) => boolean; address: (ip: string) => boolean } {
  const names = new Set<string>();
  const bl = new net.BlockList();
  for (const raw of policy.allowHosts ?? []) {
    const e = raw.trim().toLowerCase().replace(/^\[|\]$/g, "");
    const [a, p] = e.split("/") as [string, string | undefined];
    const fam = net.isIPv4(a) ? "ipv4" : net.isIPv6(a) ? "ipv6" : null;
    if (fam) bl.addSubnet(a, p === undefined ? (fam === "ipv4" ? 32 : 128) : Number(p), fam);
    else names.add(e);
  }
  return {
    host: (h) => names.has(h.toLowerCase().replace(/^\[|\]$/g, "")),
    address: (ip) => bl.check(ip, net.isIPv4(ip) ? "ipv4" : "ipv6"),
  };
}

/** Checks an --allow-url-host entry; returns a problem or null (for the CLI). */
export function allowHostProblem(e: string): string | null {
  const [a, p] = e.trim().replace(/^\[|\]$/g, "").split("/") as [string, string | undefined];
  if (!a) return "empty";
  if (p !== undefined) {
    const fam = net.isIPv4(a) ? 32 : net.isIPv6(a) ? 128 : 0;
    if (!fam) return "a CIDR needs an IP address before the /";
    if (!/^\d+$/.test(p) || Number(p) > fam) return `prefix length must be 0..${fam}`;
    return null;
  }
  return /^[A-Za-z0-9.:-]+$/.test(a) ? null : "expected a host name, an IP address or a CIDR";
}

export interface UrlGate {
  /** Throws PolicyError when the URL's scheme or (literal) host is refused; resolution happens at connect. */
  check(url: URL): void;
  /** A `lookup` for http(s).request: resolves, refuses internal addresses, returns only checked ones. */
  lookup: net.LookupFunction;
}

const refusedUrl = (field: string, shown: string, why: string): PolicyError =>
  new PolicyError(`${field}: ${shown} refused by policy: ${why} (an operator can allow a host with --allow-url-host)`, field);

/**
 * The gate a download goes through at every hop. Hosts are resolved in `lookup`, which is what the
 * socket connects with, so the address checked is the address connected to (no DNS rebinding).
 */
export function urlGate(policy: RunPolicy | undefined, field: string, shown: (u: URL) => string): UrlGate {
  const allow = policy ? allowMatcher(policy) : null;
  const origins = new Set((policy?.allowOrigins ?? []).map((o) => new URL(o).origin));
  const trusted = (u: URL): boolean => !policy || origins.has(u.origin) || allow!.host(u.hostname);
  let current: URL | null = null;
  return {
    check(u: URL) {
      current = u;
      if (u.protocol !== "http:" && u.protocol !== "https:") throw refusedUrl(field, shown(u), `only http and https URLs are allowed, not ${u.protocol}`);
      if (trusted(u)) return;
      const host = u.hostname.replace(/^\[|\]$/g, "");
      if (net.isIP(host)) {
        const kind = internalAddressKind(host);
        if (kind && !allow!.address(host)) throw refusedUrl(field, shown(u), `${kind} address`);
      }
    },
    lookup(hostname, options, callback) {
      const u = current;
      dns.lookup(hostname, { all: true, family: options.family, hints: options.hints }, (err, addrs) => {
        if (err) return callback(err, "", 4);
        const list = addrs as dns.LookupAddress[];
        if (!(u && trusted(u))) {
          for (const a of list) {
            const kind = internalAddressKind(a.address);
            if (kind && !allow!.address(a.address)) {
              const e = refusedUrl(field, u ? shown(u) : hostname, `the host resolves to a ${kind} address`);
              return callback(Object.assign(e, { code: "EPOLICY" }) as NodeJS.ErrnoException, "", 4);
            }
          }
        }
        if (!list.length) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: "ENOTFOUND" }) as NodeJS.ErrnoException, "", 4);
        if ((options as { all?: boolean }).all) (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, list);
        else callback(null, list[0]!.address, list[0]!.family);
      });
    },
  };
}
