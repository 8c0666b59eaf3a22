// The weight-file resolver (src/models/weights) and Lightly's zoo table (src/models/zoo.ts):
// lookup order, downloads from a local HTTP server (progress, stall timeout, size limit, sha256,
// interruption, a proxy from HTTP_PROXY), the offline error. Nothing here leaves the machine: every
// URL is 127.0.0.1 or is routed to the local proxy.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";
import { execFileSync } from "node:child_process";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { resolveWeightsFile, weightsFolders, WeightsError, type WeightsFile } from "../src/models/weights/resolve.js";
import { proxyFor } from "../src/models/weights/proxy.js";
import { LIGHTLY_ZOO, hashPrefixOf, zooEntry, zooKey, zooKeys } from "../src/models/zoo.js";
import { tempDir } from "./helpers/data-images.js";

const dirs: string[] = [];
const servers: http.Server[] = [];
after(() => {
  for (const s of servers) s.close();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** A fresh WINNOW_HOME and TORCH_HOME (empty folders); offline unless a test says otherwise. */
function envs(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const root = tempDir("winnow-weights-");
  dirs.push(root);
  return { WINNOW_HOME: path.join(root, "winnow"), TORCH_HOME: path.join(root, "torch"), ...extra };
}

const BODY = randomBytes(200_000);
const SHA = createHash("sha256").update(BODY).digest("hex");
const spec = (over: Partial<WeightsFile> = {}): WeightsFile => ({
  fileName: `model-${SHA.slice(0, 8)}.pth`, url: "http://models.invalid/x/model.pth", sha256Prefix: SHA.slice(0, 8), ...over,
});

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;
async function serve(h: Handler): Promise<{ base: string; hits: string[] }> {
  const hits: string[] = [];
  const s = http.createServer((req, res) => {
    hits.push(req.url ?? "");
    h(req, res);
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return { base: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, hits };
}

/** Files left in a folder (temporary .part files included). */
const left = (dir: string): string[] => (fs.existsSync(dir) ? fs.readdirSync(dir) : []);

async function rejects(p: Promise<unknown>, ...patterns: RegExp[]): Promise<Error> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof WeightsError, `expected WeightsError, got ${String(err)}`);
  for (const re of patterns) assert.match(err.message, re);
  return err;
}

test("lookup order: $WINNOW_HOME/models, then $TORCH_HOME/hub/checkpoints; sha256 computed and checked", async () => {
  const env = envs({ WINNOW_OFFLINE: "1" });
  const f = weightsFolders(env);
  assert.equal(f.winnow, path.join(env.WINNOW_HOME!, "models"));
  assert.equal(f.torchHub, path.join(env.TORCH_HOME!, "hub", "checkpoints"));
  fs.mkdirSync(f.torchHub, { recursive: true });
  fs.writeFileSync(path.join(f.torchHub, spec().fileName), BODY);
  let r = await resolveWeightsFile(spec(), { env });
  assert.deepEqual(r, { path: path.join(f.torchHub, spec().fileName), sha256: SHA, source: "torch-hub" });
  fs.mkdirSync(f.winnow, { recursive: true });
  fs.writeFileSync(path.join(f.winnow, spec().fileName), BODY);
  r = await resolveWeightsFile(spec(), { env });
  assert.equal(r.source, "winnow-cache");
  assert.equal(r.path, path.join(f.winnow, spec().fileName));
  // a damaged cached file is an error naming it, not silently used
  fs.writeFileSync(path.join(f.winnow, spec().fileName), BODY.subarray(1));
  await rejects(resolveWeightsFile(spec(), { env }), /does not match the published sha256 prefix/, new RegExp(f.winnow.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
  // TORCH_HOME unset: XDG_CACHE_HOME/torch (torch.hub's default)
  assert.equal(weightsFolders({ XDG_CACHE_HOME: "/c" }).torchHub, path.join("/c", "torch", "hub", "checkpoints"));
});

test("offline: the error names the file, its URL, both folders and the hint; nothing is fetched", async () => {
  const env = envs({ WINNOW_OFFLINE: "1" });
  const f = weightsFolders(env);
  const err = await rejects(resolveWeightsFile(spec(), { env, hint: "or set lightly_config.pre_trained: false" }), /not on this machine and downloads are off/);
  for (const s of [spec().fileName, spec().url, f.winnow, f.torchHub, "pre_trained: false"]) assert.ok(err.message.includes(s), `${err.message} lacks ${s}`);
  // an unreachable host counts as offline too, with the same advice
  const closed = await serve((_q, r) => r.end());
  servers.pop()!.close();
  await new Promise((r) => setTimeout(r, 50));
  const e2 = await rejects(resolveWeightsFile(spec(), { env: { ...env, WINNOW_OFFLINE: "", WINNOW_MODEL_MIRROR: closed.base } }), /download failed \(offline\?\)/, /ECONNREFUSED/);
  assert.ok(e2.message.includes(f.torchHub));
  assert.deepEqual(left(f.winnow), []);
});

test("download from the mirror: progress reported, sha256 checked, atomic write into $WINNOW_HOME/models", async () => {
  const srv = await serve((req, res) => {
    res.writeHead(200, { "content-length": BODY.length });
    // in pieces, so progress is reported more than once
    res.write(BODY.subarray(0, 100_000));
    setTimeout(() => res.end(BODY.subarray(100_000)), 30);
  });
  const env = envs({ WINNOW_MODEL_MIRROR: `${srv.base}/mirror/` });
  // what a killed download left two hours ago is swept; a recent one (maybe in progress) is not
  const f = weightsFolders(env).winnow;
  fs.mkdirSync(f, { recursive: true });
  const stale = path.join(f, `.${spec().fileName}.part-99999999-0000`);
  const fresh = path.join(f, `.${spec().fileName}.part-99999998-0000`);
  fs.writeFileSync(stale, "x");
  fs.writeFileSync(fresh, "x");
  fs.utimesSync(stale, new Date(Date.now() - 7_200_000), new Date(Date.now() - 7_200_000));
  const seen: Array<[number, number]> = [];
  const logs: string[] = [];
  const r = await resolveWeightsFile(spec(), { env, onProgress: (b, t) => seen.push([b, t]), log: (l) => logs.push(l) });
  assert.equal(r.source, "download");
  assert.equal(r.sha256, SHA);
  assert.equal(r.url, `${srv.base}/mirror/${spec().fileName}`);
  assert.deepEqual(srv.hits, [`/mirror/${spec().fileName}`]);
  assert.ok(seen.length >= 2 && seen[seen.length - 1]![0] === BODY.length && seen.every(([, t]) => t === BODY.length), JSON.stringify(seen));
  assert.deepEqual(left(weightsFolders(env).winnow).sort(), [path.basename(fresh), spec().fileName].sort());
  fs.rmSync(fresh);
  assert.ok(logs.some((l) => l.includes("downloaded")));
  // found in the cache the second time: no new request
  assert.equal((await resolveWeightsFile(spec(), { env })).source, "winnow-cache");
  assert.equal(srv.hits.length, 1);
});

test("sha256 mismatch (a tampered mirror): clear error, nothing left behind", async () => {
  const srv = await serve((_q, res) => res.end(Buffer.concat([BODY.subarray(0, 10), Buffer.from("x"), BODY.subarray(11)])));
  const env = envs({ WINNOW_MODEL_MIRROR: srv.base });
  await rejects(resolveWeightsFile(spec(), { env }), /sha256 [0-9a-f]{64} does not match the expected sha256 prefix/, /not kept/);
  assert.deepEqual(left(weightsFolders(env).winnow), []);
  await rejects(resolveWeightsFile(spec({ sha256Prefix: undefined, sha256: "ab".repeat(32) }), { env }), /expected sha256 abab/);
  assert.deepEqual(left(weightsFolders(env).winnow), []);
});

test("size limit (announced or streamed), stall timeout, broken-off and aborted downloads leave nothing", async () => {
  const announced = await serve((_q, res) => {
    res.writeHead(200, { "content-length": BODY.length });
    res.end(BODY);
  });
  let env = envs({ WINNOW_MODEL_MIRROR: announced.base });
  await rejects(resolveWeightsFile(spec({ maxBytes: 1000 }), { env }), /200000 bytes, more than the 1000 expected/);
  assert.deepEqual(left(weightsFolders(env).winnow), []);

  const chunked = await serve((_q, res) => {
    res.write(BODY.subarray(0, 150_000));
    setTimeout(() => res.end(BODY.subarray(150_000)), 20);
  });
  env = envs({ WINNOW_MODEL_MIRROR: chunked.base });
  await rejects(resolveWeightsFile(spec({ maxBytes: 100_000 }), { env }), /sent more than the 100000 bytes/);
  assert.deepEqual(left(weightsFolders(env).winnow), []);

  const stalls = await serve((_q, res) => {
    res.writeHead(200, { "content-length": BODY.length });
    res.write(BODY.subarray(0, 1000)); // and never more
  });
  env = envs({ WINNOW_MODEL_MIRROR: stalls.base });
  await rejects(resolveWeightsFile(spec(), { env, stallMs: 300 }), /no data from .* for 0\.3 s/, /WINNOW_MODEL_DOWNLOAD_TIMEOUT_MS/);
  assert.deepEqual(left(weightsFolders(env).winnow), []);

  const breaks = await serve((req, res) => {
    res.writeHead(200, { "content-length": BODY.length });
    res.write(BODY.subarray(0, 50_000), () => setTimeout(() => req.socket.destroy(), 20));
  });
  env = envs({ WINNOW_MODEL_MIRROR: breaks.base });
  await rejects(resolveWeightsFile(spec(), { env }), /weights file model-/);
  assert.deepEqual(left(weightsFolders(env).winnow), []);

  // Ctrl-C: the caller's signal aborts mid-transfer
  const ctl = new AbortController();
  const slow = await serve((_q, res) => {
    res.writeHead(200, { "content-length": BODY.length });
    res.write(BODY.subarray(0, 1000), () => setTimeout(() => ctl.abort(), 20));
  });
  env = envs({ WINNOW_MODEL_MIRROR: slow.base });
  await rejects(resolveWeightsFile(spec(), { env, signal: ctl.signal }), /interrupted/);
  assert.deepEqual(left(weightsFolders(env).winnow), []);
});

test("HTTP_PROXY is honoured (absolute-URI request through a local proxy); NO_PROXY exempts hosts", async () => {
  const origin = await serve((_q, res) => res.end(BODY));
  const proxied: string[] = [];
  const proxy = await serve((req, res) => {
    proxied.push(req.url ?? "");
    // forward whatever host was asked for to the local origin
    const u = new URL(req.url ?? "");
    http.get(`${origin.base}${u.pathname}`, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
  });
  const env = envs({ HTTP_PROXY: proxy.base, NO_PROXY: "localhost" });
  const r = await resolveWeightsFile(spec(), { env });
  assert.equal(r.sha256, SHA);
  assert.deepEqual(proxied, ["http://models.invalid/x/model.pth"]);
  assert.deepEqual(origin.hits, ["/x/model.pth"]);
  // the proxy choice
  const u = (s: string): URL => new URL(s);
  assert.equal(proxyFor(u("https://a.example/x"), { HTTPS_PROXY: "http://p:3128" })?.host, "p:3128");
  assert.equal(proxyFor(u("https://a.example/x"), { https_proxy: "p:8080" })?.href, "http://p:8080/");
  assert.equal(proxyFor(u("http://a.example/x"), { HTTPS_PROXY: "http://p:3128" }), null);
  assert.equal(proxyFor(u("https://a.example/x"), { HTTPS_PROXY: "http://p:3128", NO_PROXY: "other.org, .example" }), null);
  assert.equal(proxyFor(u("https://sub.a.example/x"), { HTTPS_PROXY: "http://p:3128", NO_PROXY: "a.example" }), null);
  assert.equal(proxyFor(u("https://a.example/x"), { HTTPS_PROXY: "http://p:3128", NO_PROXY: "*" }), null);
  assert.ok(proxyFor(u("https://nota.example.org/x"), { HTTPS_PROXY: "http://p:3128", NO_PROXY: "a.example" }));
  assert.throws(() => proxyFor(u("https://a.example/x"), { HTTPS_PROXY: "socks5://p:1080" }), /only http:\/\/ proxies/);
});

test("HTTPS_PROXY: https goes through a CONNECT tunnel with TLS end to end (certificate checked at the origin)", async () => {
  const tmp = tempDir("winnow-tls-");
  dirs.push(tmp);
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", path.join(tmp, "k.pem"), "-out", path.join(tmp, "c.pem"), "-days", "1", "-subj", "/CN=models.invalid"], { stdio: "ignore" });
  const origin = https.createServer({ key: fs.readFileSync(path.join(tmp, "k.pem")), cert: fs.readFileSync(path.join(tmp, "c.pem")) }, (_q, res) => res.end(BODY));
  servers.push(origin as unknown as http.Server);
  await new Promise<void>((r) => origin.listen(0, "127.0.0.1", r));
  const tunnels: string[] = [];
  const proxy = http.createServer();
  servers.push(proxy);
  proxy.on("connect", (req: http.IncomingMessage, sock: net.Socket) => {
    tunnels.push(req.url ?? "");
    if (req.url?.startsWith("refuse.")) {
      sock.end("HTTP/1.1 403 Forbidden\r\n\r\n");
      return;
    }
    const up = net.connect((origin.address() as AddressInfo).port, "127.0.0.1", () => {
      sock.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      up.pipe(sock);
      sock.pipe(up);
    });
  });
  await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
  const env = envs({ HTTPS_PROXY: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}` });
  const s = spec({ url: "https://models.invalid/x/model.pth" });
  // the origin's self-signed certificate is refused: TLS runs between Winnow and the origin, not the proxy
  await rejects(resolveWeightsFile(s, { env }), /DEPTH_ZERO_SELF_SIGNED_CERT|self.signed/i);
  assert.deepEqual(tunnels, ["models.invalid:443"]);
  await rejects(resolveWeightsFile(spec({ url: "https://refuse.invalid/m.pth" }), { env }), /refused the tunnel to refuse\.invalid:443: HTTP 403/);
  // trusting it (for this test only), the file arrives through the tunnel
  const before = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
  process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
  try {
    assert.equal((await resolveWeightsFile(s, { env })).sha256, SHA);
  } finally {
    if (before === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    else process.env.NODE_TLS_REJECT_UNAUTHORIZED = before;
  }
  assert.equal(tunnels.length, 3);
  assert.deepEqual(left(weightsFolders(env).winnow), [s.fileName]);
});

test("Lightly's zoo: six entries, lightly's keys, torch.hub hash prefixes; WINNOW_MODEL_ZOO adds entries", () => {
  assert.equal(Object.keys(LIGHTLY_ZOO).length, 6);
  assert.equal(zooKey({ name: "resnet-18", num_ftrs: 32, width: 1 }), "resnet-18/simclr/d32/w1.0");
  assert.equal(zooKey({ name: "resnet-9", num_ftrs: 16, width: 0.0625 }), "resnet-9/simclr/d16/w0.0625");
  const e = zooEntry("resnet-18/simclr/d32/w1.0", {})!;
  assert.equal(e.fileName, "whattolabel-resnet18-simclr-d32-w1.0-i-085d0693.pth");
  assert.equal(e.url, "https://storage.googleapis.com/models_boris/whattolabel-resnet18-simclr-d32-w1.0-i-085d0693.pth");
  assert.equal(e.sha256Prefix, "085d0693");
  assert.equal(hashPrefixOf("whattolabel-resnet9-simclr-d16-w0.0625-i-ce0d6bd9.pth"), "ce0d6bd9");
  for (const k of Object.keys(LIGHTLY_ZOO)) assert.match(zooEntry(k, {})!.sha256Prefix!, /^[0-9a-f]{8}$/);
  assert.equal(zooEntry("resnet-9/simclr/d8/w0.125", {}), null);
  const root = tempDir("winnow-zoo-");
  dirs.push(root);
  const file = path.join(root, "zoo.json");
  fs.writeFileSync(file, JSON.stringify({ "resnet-9/simclr/d8/w0.125": { url: "https://models.example/mine-abc123.pth" } }));
  const mine = zooEntry("resnet-9/simclr/d8/w0.125", { WINNOW_MODEL_ZOO: file })!;
  assert.equal(mine.fileName, "mine-abc123.pth");
  assert.equal(mine.sha256Prefix, "abc123");
  assert.equal(zooKeys({ WINNOW_MODEL_ZOO: file }).length, 7);
  fs.writeFileSync(file, JSON.stringify({ k: { url: "file:///etc/passwd" } }));
  assert.throws(() => zooEntry("k", { WINNOW_MODEL_ZOO: file }), /k\.url must be an http\(s\) URL/);
});
