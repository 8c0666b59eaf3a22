// The worker-side policy's pieces without a server: address classes (IPv4-mapped and NAT64 forms
// included), literal and resolved hosts refused before any connection, operator CIDRs, path roots
// with symlinks leading out, and the dirpath rule.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { internalAddressKind, resolvePolicyPath, resolveInRunFolder, urlGate, PolicyError } from "../src/run/policy.js";
import { safeGet } from "../src/run/safe-get.js";
import { tempDir } from "./helpers/data-images.js";

test("internal address classes, including IPv4-mapped, compatible and NAT64 forms", () => {
  const cases: Array<[string, string | null]> = [
    ["127.0.0.1", "loopback"], ["10.2.3.4", "private"], ["172.31.0.1", "private"], ["192.168.1.1", "private"],
    ["169.254.169.254", "link-local"], ["0.0.0.0", "unspecified"], ["224.0.0.251", "multicast"], ["100.64.0.1", "private (carrier-grade NAT)"],
    ["::1", "loopback"], ["::", "unspecified"], ["fd12::1", "private"], ["fe80::1", "link-local"], ["ff02::1", "multicast"],
    ["::ffff:127.0.0.1", "loopback"], ["::ffff:a9fe:a9fe", "link-local"], ["::127.0.0.1", "loopback"], ["64:ff9b::10.0.0.1", "private"],
    ["8.8.8.8", null], ["1.1.1.1", null], ["2606:4700:4700::1111", null], ["::ffff:8.8.8.8", null],
  ];
  for (const [ip, kind] of cases) assert.equal(internalAddressKind(ip), kind, ip);
});

test("URLs: literal internal addresses and names resolving to them are refused before connecting; operator CIDRs allow", async () => {
  let connections = 0;
  const srv = http.createServer((_q, r) => r.end("x"));
  srv.on("connection", () => connections++);
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  try {
    const policy = { roots: [] };
    const gate = () => urlGate(policy, "worker_config.checkpoint", (u) => u.href);
    for (const u of [`http://127.0.0.1:${port}/`, `http://[::ffff:127.0.0.1]:${port}/`, `http://localhost:${port}/`, "ftp://example.com/x"]) {
      await assert.rejects(safeGet(u, gate(), AbortSignal.timeout(5000)), /refused by policy/, u);
    }
    assert.equal(connections, 0, "no connection to the refused addresses");
    const res = await safeGet(`http://localhost:${port}/`, urlGate({ roots: [], allowHosts: ["127.0.0.0/8"] }, "f", (u) => u.href), AbortSignal.timeout(5000));
    res.resume();
    assert.equal(res.statusCode, 200);
    assert.equal(connections, 1, "an operator-allowed CIDR connects");
  } finally {
    srv.close();
  }
});

test("paths: inside the roots only, symlinks may not lead out, one message whether the refused file exists or not", () => {
  const d = tempDir("winnow-policy-");
  fs.mkdirSync(path.join(d, "root"));
  fs.writeFileSync(path.join(d, "root", "ok.csv"), "x");
  fs.writeFileSync(path.join(d, "secret"), "s");
  fs.symlinkSync(path.join(d, "secret"), path.join(d, "root", "out.csv"));
  const policy = { roots: [path.join(d, "root")] };
  assert.equal(resolvePolicyPath("ok.csv", "f", policy, path.join(d, "root")), fs.realpathSync(path.join(d, "root", "ok.csv")));
  const msg = (p: string): string => {
    try {
      resolvePolicyPath(p, "f", policy, path.join(d, "root"));
    } catch (e) {
      assert.ok(e instanceof PolicyError);
      return e.message.replace(JSON.stringify(p), "P");
    }
    throw new Error(`${p} was accepted`);
  };
  const outside = msg(path.join(d, "secret"));
  assert.equal(msg(path.join(d, "nothing-here")), outside);
  assert.equal(msg("out.csv"), outside);
  assert.equal(msg("../secret"), outside);
  assert.equal(msg("missing.csv"), outside);
});

test("dirpath: relative folders stay inside the run folder; absolute and .. are refused", () => {
  assert.equal(resolveInRunFolder("ckpts/a", "d", "/runs/r1/output"), "/runs/r1/output/ckpts/a");
  assert.throws(() => resolveInRunFolder("/etc/cron.d", "d", "/runs/r1/output"), /d: "\/etc\/cron.d" refused by policy: absolute paths/);
  assert.throws(() => resolveInRunFolder("a/../../x", "d", "/runs/r1/output"), /"\.\." segments/);
});

test("run() with a policy: a checkpoint or embeddings path outside the roots fails the run without quoting the file", async () => {
  const { run } = await import("../src/run/run.js");
  const { tinyFolder, tinyConfig, privateHome } = await import("./helpers/run-setup.js");
  process.env.WINNOW_HOME = privateHome();
  const { root } = await tinyFolder(6);
  const d = tempDir("winnow-policy-run-");
  const secret = path.join(d, "secret.csv");
  fs.writeFileSync(secret, "TOPSECRET_LINE,embedding_0,labels\n");
  const policy = { roots: [root] };
  await assert.rejects(
    run({ input: root, config: tinyConfig({ worker_config: { checkpoint: "/etc/passwd" } }), output: path.join(d, "a"), stream: null, policy }),
    (e: Error) => /worker_config\.checkpoint: "\/etc\/passwd" is not a file inside the folders .* refused by policy/.test(e.message),
  );
  await assert.rejects(
    run({ input: root, config: tinyConfig({ worker_config: { embeddings: secret } }), output: path.join(d, "b"), stream: null, policy }),
    (e: Error) => /worker_config\.embeddings: .* refused by policy/.test(e.message) && !e.message.includes("TOPSECRET"),
  );
  for (const f of fs.readdirSync(path.join(d, "b"), { recursive: true }) as string[]) {
    const p = path.join(d, "b", f);
    if (fs.statSync(p).isFile()) assert.ok(!fs.readFileSync(p, "utf8").includes("TOPSECRET"), f);
  }
  // Without a policy (the user's own `winnow run`) the same file is read, and its content is not quoted either.
  await assert.rejects(
    run({ input: root, config: tinyConfig({ worker_config: { embeddings: secret } }), output: path.join(d, "c"), stream: null }),
    (e: Error) => /secret\.csv line 1: expected the header/.test(e.message) && !e.message.includes("TOPSECRET"),
  );
});
