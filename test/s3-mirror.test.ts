// Datasources in S3: the worker's mirror of s3://bucket/prefix (src/data/s3-mirror.ts) against a
// local S3 server: same bytes and mtimes as the objects, incremental re-syncs (only changed objects
// fetched again, deleted ones removed), mtimes that tell same-second overwrites apart, bodies
// streamed to disk (peak RSS flat in object size, measured in a child process), bodies cut off
// mid-stream retried, a missing bucket named.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { DeleteObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { mirrorS3Prefix, objectMtime } from "../src/data/s3-mirror.js";
import { s3Client } from "../src/s3/client.js";
import { parseS3Url } from "../src/s3/client.js";
import { tempDir } from "./helpers/data-images.js";
import { startS3, type LocalS3 } from "./helpers/s3.js";

let s3: LocalS3;
let c: S3Client;
let dir: string;
const objects: Record<string, Buffer> = {
  "a.png": randomBytes(3000),
  "sub/b.png": randomBytes(70_000),
  "sub/deeper/c.jpg": randomBytes(10),
  ".lightly/predictions/tasks.json": Buffer.from("[]"),
};

before(async () => {
  s3 = await startS3(["mirror-data"]);
  Object.assign(process.env, s3.env);
  c = s3Client();
  dir = tempDir("winnow-s3-mirror-");
  for (const [k, v] of Object.entries(objects)) await c.send(new PutObjectCommand({ Bucket: "mirror-data", Key: `ds/one/${k}`, Body: v }));
  await c.send(new PutObjectCommand({ Bucket: "mirror-data", Key: "ds/other/x.png", Body: randomBytes(5) }));
});
after(async () => {
  c.destroy();
  await s3.stop();
});

const read = (root: string, rel: string): Buffer => fs.readFileSync(path.join(root, ...rel.split("/")));

test("s3:// URLs: bucket and prefix parsed; bad ones refused naming the option", () => {
  assert.deepEqual(parseS3Url("s3://mirror-data/ds/one", "datasource"), { bucket: "mirror-data", prefix: "ds/one/" });
  assert.deepEqual(parseS3Url("s3://mirror-data", "datasource"), { bucket: "mirror-data", prefix: "" });
  assert.throws(() => parseS3Url("s3://Bad_Bucket/x", "datasource"), /datasource: "Bad_Bucket" is not a valid bucket name/);
  assert.throws(() => parseS3Url("s3://bucket/a/../b", "--storage"), /--storage: the prefix .* contains "\." or "\.\." segments/);
  assert.throws(() => parseS3Url("http://x/y", "datasource"), /datasource: expected s3:\/\/bucket\/prefix/);
});

test("first sync mirrors every object under the prefix (only that prefix), bytes and LastModified as mtime", async () => {
  const m = await mirrorS3Prefix("s3://mirror-data/ds/one", path.join(dir, "m"));
  assert.equal(m.objects, 4);
  assert.equal(m.downloaded, 4);
  for (const [k, v] of Object.entries(objects)) assert.ok(read(m.dir, k).equals(v), k);
  assert.equal(fs.existsSync(path.join(m.dir, "x.png")), false, "the other prefix is not mirrored");
  const head = await c.send(new HeadObjectCommand({ Bucket: "mirror-data", Key: "ds/one/sub/b.png" }));
  assert.equal(Math.round(fs.statSync(path.join(m.dir, "sub", "b.png")).mtimeMs / 1000), Math.round(head.LastModified!.getTime() / 1000));
});

test("re-sync fetches only what changed, removes what is gone, keeps untouched files as they were", async () => {
  const root = path.join(dir, "m");
  const m0 = await mirrorS3Prefix("s3://mirror-data/ds/one", root);
  assert.equal(m0.downloaded, 0);
  assert.equal(m0.unchanged, 4);
  const keptStat = fs.statSync(path.join(m0.dir, "sub", "b.png"));
  const changed = randomBytes(4000);
  await c.send(new PutObjectCommand({ Bucket: "mirror-data", Key: "ds/one/a.png", Body: changed }));
  await c.send(new DeleteObjectCommand({ Bucket: "mirror-data", Key: "ds/one/sub/deeper/c.jpg" }));
  await c.send(new PutObjectCommand({ Bucket: "mirror-data", Key: "ds/one/new.png", Body: Buffer.from("new") }));
  const before = s3.requests.length;
  const m = await mirrorS3Prefix("s3://mirror-data/ds/one", root);
  assert.deepEqual([m.objects, m.downloaded, m.unchanged, m.removed], [4, 2, 2, 1]);
  const gets = s3.requests.slice(before).filter((r) => r.startsWith("GET /mirror-data/ds/one/"));
  assert.deepEqual(gets.map((r) => r.split("?")[0]).sort(), ["GET /mirror-data/ds/one/a.png", "GET /mirror-data/ds/one/new.png"]);
  assert.ok(read(m.dir, "a.png").equals(changed));
  assert.equal(read(m.dir, "new.png").toString(), "new");
  assert.equal(fs.existsSync(path.join(m.dir, "sub", "deeper", "c.jpg")), false);
  assert.equal(fs.statSync(path.join(m.dir, "sub", "b.png")).mtimeMs, keptStat.mtimeMs, "an unchanged file is not rewritten");
});

test("mtime = LastModified + an ETag's sub-millisecond offset: the same object always the same, an overwrite in the same second another", () => {
  const f = path.join(dir, "mtime");
  fs.writeFileSync(f, "x");
  const lm = Date.parse("2026-12-07T11:00:00Z"); // S3 lists LastModified in whole seconds
  const ns = (etag: string): bigint => {
    const t = objectMtime(lm, etag);
    fs.utimesSync(f, t, t);
    return fs.statSync(f, { bigint: true }).mtimeNs;
  };
  const a = ns('"9b2cf535f27731c974343645a3985328"');
  assert.equal(ns('"9b2cf535f27731c974343645a3985328"'), a);
  assert.notEqual(ns('"0cc175b9c0f1b6a831c399e269772661"'), a);
  const base = BigInt(lm) * 1_000_000n;
  assert.ok(a >= base && a < base + 1_000_000n, `within the millisecond: ${a - base} ns`);
});

test("large objects stream to disk: peak RSS after mirroring a 64 MiB object is that of an 8 MiB one", async () => {
  const big = randomBytes(64 << 20);
  await c.send(new PutObjectCommand({ Bucket: "mirror-data", Key: "mem/small/a.mp4", Body: big.subarray(0, 8 << 20) }));
  await c.send(new PutObjectCommand({ Bucket: "mirror-data", Key: "mem/big/b.mp4", Body: big }));
  const child = fileURLToPath(new URL("./helpers/s3-mirror-child.ts", import.meta.url));
  // Async spawn: the S3 server runs in this process.
  const p = spawn(process.execPath, ["--import", "tsx", child, path.join(dir, "mem"), "s3://mirror-data/mem/small", "s3://mirror-data/mem/big"], { env: process.env });
  let stdout = "";
  let stderr = "";
  p.stdout.on("data", (d) => (stdout += d));
  p.stderr.on("data", (d) => (stderr += d));
  const code = await new Promise((resolve) => p.on("close", resolve));
  assert.equal(code, 0, stderr);
  const { peaks, dirs } = JSON.parse(stdout.trim().split("\n").pop()!) as { peaks: number[]; dirs: string[] };
  const grewMiB = (peaks[1]! - peaks[0]!) / 1024;
  // Buffering the body adds ≥ 64 MiB (measured +112 MiB for 48 MiB); streaming measured +9 to +12 MiB
  // (socket and stream buffers at the higher rate, GC timing).
  assert.ok(grewMiB < 32, `peak RSS grew by ${grewMiB.toFixed(1)} MiB (after the 8 MiB object: ${(peaks[0]! / 1024).toFixed(0)} MiB)`);
  assert.ok(fs.readFileSync(path.join(dirs[1]!, "b.mp4")).equals(big));
});

test("an object deleted between the listing and its download is left out, its old copy removed: not a failure, no retries", async () => {
  const url = "s3://mirror-data/ds/gone";
  const root = path.join(dir, "gone");
  await c.send(new PutObjectCommand({ Bucket: "mirror-data", Key: "ds/gone/keep.png", Body: randomBytes(10) }));
  await c.send(new PutObjectCommand({ Bucket: "mirror-data", Key: "ds/gone/clip.mp4", Body: randomBytes(20) }));
  assert.equal((await mirrorS3Prefix(url, root)).objects, 2);
  await c.send(new PutObjectCommand({ Bucket: "mirror-data", Key: "ds/gone/clip.mp4", Body: randomBytes(30) })); // changed: to fetch
  // A client whose listing is followed at once by the object's deletion (another writer of the bucket).
  const racing = s3Client();
  const send = racing.send.bind(racing) as (cmd: unknown, ...rest: unknown[]) => Promise<unknown>;
  racing.send = (async (cmd: unknown, ...rest: unknown[]) => {
    const r = await send(cmd, ...rest);
    if (cmd instanceof ListObjectsV2Command) await c.send(new DeleteObjectCommand({ Bucket: "mirror-data", Key: "ds/gone/clip.mp4" }));
    return r;
  }) as typeof racing.send;
  const logs: string[] = [];
  const m = await mirrorS3Prefix(url, root, { client: racing, log: (l) => logs.push(l) });
  racing.destroy();
  assert.deepEqual([m.objects, m.downloaded, m.unchanged, m.removed, m.vanished], [1, 0, 1, 1, ["ds/gone/clip.mp4"]]);
  assert.deepEqual(logs, [], "NoSuchKey is not retried");
  assert.equal(fs.existsSync(path.join(m.dir, "clip.mp4")), false, "the old copy of a deleted object is not read");
  const again = await mirrorS3Prefix(url, root);
  assert.deepEqual([again.objects, again.downloaded, again.removed, again.vanished], [1, 0, 0, []]);
});

test("a key that is also another key's folder is skipped, not fatal; when the folder's keys go, the file comes", async () => {
  const url = "s3://mirror-data/ds/clash";
  const root = path.join(dir, "clash");
  await c.send(new PutObjectCommand({ Bucket: "mirror-data", Key: "ds/clash/cam", Body: Buffer.from("file") }));
  await c.send(new PutObjectCommand({ Bucket: "mirror-data", Key: "ds/clash/cam/a.mp4", Body: Buffer.from("video") }));
  const m = await mirrorS3Prefix(url, root);
  assert.deepEqual([m.objects, m.skipped], [1, ["ds/clash/cam"]]);
  assert.equal(read(m.dir, "cam/a.mp4").toString(), "video");
  await c.send(new DeleteObjectCommand({ Bucket: "mirror-data", Key: "ds/clash/cam/a.mp4" }));
  const m2 = await mirrorS3Prefix(url, root);
  assert.deepEqual([m2.objects, m2.downloaded, m2.removed, m2.skipped], [1, 1, 1, []]);
  assert.equal(read(m2.dir, "cam").toString(), "file", "the emptied folder made way for the file");
});

test("a body cut off mid-stream is retried (no partial file left, in the folder or beside it); too many failures name the object", async () => {
  const logs: string[] = [];
  s3.cutNextBodies(2);
  const m = await mirrorS3Prefix("s3://mirror-data/ds/one", path.join(dir, "retry"), { concurrency: 1, log: (l) => logs.push(l) });
  for (const [k, v] of Object.entries(objects)) if (k !== "sub/deeper/c.jpg" && k !== "a.png") assert.ok(read(m.dir, k).equals(v), k);
  assert.equal(logs.filter((l) => /retrying/.test(l)).length, 2, logs.join("\n"));
  const parts = path.join(path.dirname(m.dir), "parts");
  assert.deepEqual(fs.readdirSync(parts), [], "no partial files left");
  const files = fs.readdirSync(m.dir, { recursive: true }).filter((f) => fs.statSync(path.join(m.dir, String(f))).isFile());
  assert.equal(files.length, m.objects, `only the objects' files: ${files.join(", ")}`);
  fs.writeFileSync(path.join(parts, "0123"), "what a killed sync left");
  await mirrorS3Prefix("s3://mirror-data/ds/one", path.join(dir, "retry"));
  assert.deepEqual(fs.readdirSync(parts), [], "removed by the next sync");
  s3.cutNextBodies(100);
  await assert.rejects(mirrorS3Prefix("s3://mirror-data/ds/one", path.join(dir, "fail"), { attempts: 2, concurrency: 1 }), /downloading s3:\/\/mirror-data\/ds\/one\/\S+ failed after 2 attempt\(s\)/);
  s3.cutNextBodies(0);
  await assert.rejects(mirrorS3Prefix("s3://no-such-bucket/x", path.join(dir, "none")), /bucket/i);
});
