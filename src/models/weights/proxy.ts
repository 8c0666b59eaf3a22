// GET through the proxy the usual environment variables name (HTTPS_PROXY / HTTP_PROXY, lower-case
// too; NO_PROXY exempts hosts), without a dependency: plain-http targets are requested from the
// proxy by absolute URL, https targets through a CONNECT tunnel with TLS end to end.
import * as http from "node:http";
import * as https from "node:https";
import * as tls from "node:tls";

const envOf = (env: NodeJS.ProcessEnv, name: string): string => env[name] ?? env[name.toLowerCase()] ?? "";

/** True when NO_PROXY (comma/space separated hosts, ".domain" suffixes, "*", optional ":port") exempts `u`. */
export function noProxy(u: URL, env: NodeJS.ProcessEnv): boolean {
  const list = envOf(env, "NO_PROXY").split(/[\s,]+/).filter(Boolean);
  const host = u.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  const port = u.port || (u.protocol === "https:" ? "443" : "80");
  for (const raw of list) {
    if (raw === "*") return true;
    const m = /^(.*?)(?::(\d+))?$/.exec(raw.toLowerCase())!;
    const pat = m[1]!.replace(/^\*?\./, "");
    if (m[2] && m[2] !== port) continue;
    if (host === pat || host.endsWith(`.${pat}`)) return true;
  }
  return false;
}

/** The proxy for `u`, or null (no variable set, or NO_PROXY exempts it). */
export function proxyFor(u: URL, env: NodeJS.ProcessEnv = process.env): URL | null {
  const v = u.protocol === "https:" ? envOf(env, "HTTPS_PROXY") || envOf(env, "ALL_PROXY") : envOf(env, "HTTP_PROXY") || envOf(env, "ALL_PROXY");
  if (!v || noProxy(u, env)) return null;
  let p: URL;
  try {
    p = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(v) ? v : `http://${v}`);
  } catch {
    throw new Error(`proxy variable: ${JSON.stringify(v)} is not a URL (expected e.g. http://proxy.example:3128)`);
  }
  if (p.protocol !== "http:") throw new Error(`proxy ${p.origin}: only http:// proxies are supported`);
  return p;
}

function proxyAuth(p: URL): Record<string, string> {
  return p.username ? { "proxy-authorization": `Basic ${Buffer.from(`${decodeURIComponent(p.username)}:${decodeURIComponent(p.password)}`).toString("base64")}` } : {};
}

/** One GET (no redirects followed), directly or through the environment's proxy. */
export function getOnce(u: URL, env: NodeJS.ProcessEnv, signal: AbortSignal): Promise<http.IncomingMessage> {
  const headers = { "accept-encoding": "identity", "user-agent": "winnow" };
  const proxy = proxyFor(u, env);
  return new Promise((resolve, reject) => {
    if (!proxy) {
      const req = (u.protocol === "https:" ? https : http).request(u, { method: "GET", headers, agent: false, signal }, resolve);
      req.on("error", reject);
      req.end();
      return;
    }
    const port = Number(proxy.port || 80);
    if (u.protocol === "http:") {
      const req = http.request({ host: proxy.hostname, port, method: "GET", path: u.href, headers: { ...headers, host: u.host, ...proxyAuth(proxy) }, agent: false, signal }, resolve);
      req.on("error", reject);
      req.end();
      return;
    }
    const target = `${u.hostname}:${u.port || 443}`;
    const connect = http.request({ host: proxy.hostname, port, method: "CONNECT", path: target, headers: { host: target, ...proxyAuth(proxy) }, agent: false, signal });
    connect.on("error", reject);
    connect.on("connect", (res, socket) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        reject(new Error(`proxy ${proxy.origin} refused the tunnel to ${target}: HTTP ${res.statusCode}`));
        return;
      }
      const req = https.request(u, { method: "GET", headers, signal, createConnection: () => tls.connect({ socket, servername: u.hostname }) }, resolve);
      req.on("error", reject);
      req.end();
    });
    connect.end();
  });
}
