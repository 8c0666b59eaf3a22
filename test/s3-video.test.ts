// Videos in an S3 datasource (issue 25), the worker's path: prepareJob mirrors s3://bucket/prefix into
// its work dir (src/worker/job-inputs.ts → src/data/s3-mirror.ts) and the job runs `run()` on that
// folder with the worker's cache. A prefix holding two images, a clip, a clip cut in half, a zero-byte
// a garbage ".mp4" and an HLS playlist named ".mp4": frames are samples under the same Lightly names as a local run of the same
// files; the broken videos are listed by name with the reason; a second sync + run over unchanged
// objects downloads nothing, counts no packets and decodes no video (the video addon's calls tapped;
// ffmpeg/ffprobe wrapped on PATH: only the export of selected frames runs ffmpeg).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import * as torch from "../src/torch/index.js";
import { run, type RunResult } from "../src/run/index.js";
import { compareCodePoints } from "../src/data/index.js";
import { frameName } from "../src/data/video/names.js";
import { tapVideoCalls, type VideoCall } from "../src/data/video/native.js";
import { s3Client } from "../src/s3/client.js";
import { prepareJob } from "../src/worker/job-inputs.js";
import type { Claim } from "../src/worker/claim.js";
import type { WorkerContext } from "../src/worker/context.js";
import type { RunReporter } from "../src/worker/run-reporter.js";
import { tempDir } from "./helpers/data-images.js";
import { ff } from "./helpers/data-video.js";
import { writePatternFolder } from "./helpers/ssl-images.js";
import { privateHome, tinyConfig, lines } from "./helpers/run-setup.js";
import { startS3, type LocalS3 } from "./helpers/s3.js";

const H264 = ["-c:v", "libx264", "-pix_fmt", "yuv420p"];
const BUCKET = "video-data";
const URL = `s3://${BUCKET}/ds/clips`;
const CONFIG = tinyConfig({ worker_config: { corruptness_check: { corruption_threshold: 0.05 } }, selection_config: { n_samples: 4 } });
const dirs: string[] = [];
const savedPath = process.env.PATH;
let s3: LocalS3;
let c: S3Client;
let local: string;
let images: string[];
let work: string;
let baseline: number;

before(async () => {
  privateHome("winnow-s3-video-home-");
  baseline = torch.liveTensors();
  s3 = await startS3([BUCKET]);
  Object.assign(process.env, s3.env);
  c = s3Client();
  local = tempDir("winnow-s3-video-in-");
  work = tempDir("winnow-s3-video-work-");
  dirs.push(local, work);
  images = await writePatternFolder(local, 2, 20);
  fs.mkdirSync(path.join(local, "cam"));
  ff("-f", "lavfi", "-i", "testsrc=size=40x24:rate=10", "-frames:v", "12", ...H264, path.join(local, "cam", "a.mp4"));
  // All-intra, moov first, data cut in half: the last listed frame is cut short (1 of ~7 > 0.05).
  const whole = path.join(work, "whole.mp4");
  ff("-f", "lavfi", "-i", "testsrc=size=32x32:rate=10", "-frames:v", "20", ...H264, "-g", "1", "-movflags", "+faststart", whole);
  const bytes = fs.readFileSync(whole);
  fs.writeFileSync(path.join(local, "cam", "cut.mp4"), bytes.subarray(0, Math.floor(bytes.length * 0.5)));
  fs.rmSync(whole);
  fs.writeFileSync(path.join(local, "empty.mp4"), Buffer.alloc(0));
  fs.writeFileSync(path.join(local, "junk.mp4"), Buffer.from("not a video at all, just text ".repeat(40)));
  // A bucket's content is untrusted: an HLS playlist named .mp4 that lists a video elsewhere on the
  // worker (another dataset's) must not be read through it.
  const secret = path.join(work, "elsewhere", "secret.mp4");
  fs.mkdirSync(path.dirname(secret));
  ff("-f", "lavfi", "-i", "testsrc=size=16x16:rate=10", "-frames:v", "3", ...H264, secret);
  fs.writeFileSync(path.join(local, "trap.mp4"), `#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n${secret}\n#EXT-X-ENDLIST\n`);
  for (const f of fs.readdirSync(local, { recursive: true }) as string[]) {
    if (!fs.statSync(path.join(local, f)).isFile()) continue;
    await c.send(new PutObjectCommand({ Bucket: BUCKET, Key: `ds/clips/${f.split(path.sep).join("/")}`, Body: fs.readFileSync(path.join(local, f)) }));
  }
});
after(async () => {
  process.env.PATH = savedPath;
  c.destroy();
  await s3.stop();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** The worker's preparation of a claimed run whose dataset's datasource is URL, with a fake server. */
async function workerInput(runId: string): Promise<{ input: string; cacheDir: string; log: string[] }> {
  const log: string[] = [];
  let failed: string | null = null;
  const ctx = { workDir: work, workerName: "w1", s3: {}, allowRoots: [], allowUrlHosts: [], http: { base: "http://127.0.0.1:9" } } as unknown as WorkerContext;
  const report = {
    logLines: (l: string[]) => void log.push(...l),
    update: async () => {},
    finish: async (_state: string, message: string) => void (failed = message),
  } as unknown as RunReporter;
  const claim = { run: { id: runId }, dataset: { name: "clips", datasource: URL }, config: CONFIG, checkpoint: null, datapool: null, tags: {}, resume: null } as unknown as Claim;
  const job = await prepareJob(ctx, report, claim);
  assert.ok(job, `prepareJob ended the run: ${failed}`);
  return { input: job.spec.input, cacheDir: job.spec.cacheDir, log };
}

/** The video addon's calls (probes, decodes, frame times) and any ffmpeg/ffprobe run (wrapped by scripts that log their arguments), from now on. */
function wrapTools(): () => { cli: string[]; addon: VideoCall[] } {
  const bin = tempDir("winnow-s3-video-bin-");
  dirs.push(bin);
  const log = path.join(bin, "calls.log");
  for (const tool of ["ffmpeg", "ffprobe"]) {
    const real = execFileSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).trim();
    fs.writeFileSync(path.join(bin, tool), `#!/bin/sh\necho "${tool} $*" >> '${log}'\nexec '${real}' "$@"\n`, { mode: 0o755 });
  }
  process.env.PATH = `${bin}:${savedPath}`;
  const tap = tapVideoCalls();
  return () => {
    const cli = fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n") : [];
    fs.rmSync(log, { force: true });
    return { cli, addon: tap.take() };
  };
}

const csvNames = (file: string): string[] => fs.readFileSync(file, "utf8").split("\r\n").filter(Boolean).slice(1).map((r) => r.split(",")[0]!);
const corrupt = (r: RunResult): Record<string, string> => (JSON.parse(fs.readFileSync(r.paths.corruptnessInformation, "utf8")) as { corrupt_videos: Record<string, string> }).corrupt_videos;
const out = (name: string): string => path.join(work, "out", name);

test("a worker run over an S3 prefix with videos and images: the same frames, names and corrupt videos as a local run; a re-run decodes nothing", async () => {
  const localRun = await run({ input: local, output: out("local"), stream: null, config: CONFIG });
  const calls = wrapTools();
  const first = await workerInput("r1");
  assert.equal(path.dirname(path.dirname(first.input)), path.join(work, "s3-mirror"), first.input);
  assert.match(first.log.join("\n"), /datasource s3:\/\/video-data\/ds\/clips: 7 object\(s\), 7 downloaded \(\d+ bytes\), 0 unchanged, 0 removed/);
  const s3Run = await run({ input: first.input, cacheDir: first.cacheDir, output: out("s3-1"), stream: null, config: CONFIG });
  assert.equal(s3Run.record.state, "COMPLETED");

  const expected = [...images, ...Array.from({ length: 12 }, (_, k) => frameName("cam/a.mp4", k, 12))].sort(compareCodePoints);
  assert.deepEqual(csvNames(s3Run.paths.embeddings), expected);
  assert.deepEqual(csvNames(s3Run.paths.embeddings), csvNames(localRun.paths.embeddings));
  // Broken video objects: listed under their name below the prefix (the Lightly name), with why.
  const bad = corrupt(s3Run);
  assert.deepEqual(Object.keys(bad), ["cam/cut.mp4", "empty.mp4", "junk.mp4", "trap.mp4"]);
  assert.match(bad["trap.mp4"]!, /^unsupported: the file is read by ffmpeg's hls demuxer; only MP4\/MOV, Matroska\/WebM and AVI containers are read$/);
  assert.match(bad["cam/cut.mp4"]!, /^corrupt_frames: \d+ of \d+ frames could not be decoded .*more than corruption_threshold 0\.05$/);
  assert.match(bad["empty.mp4"]!, /^empty: /);
  assert.match(bad["junk.mp4"]!, /^corrupt: probe failed: opening: .*(moov atom not found|Invalid data)/);
  assert.deepEqual(bad, corrupt(localRun));
  // Reasons name the video, never the worker's mirror folder.
  const info = fs.readFileSync(s3Run.paths.corruptnessInformation, "utf8");
  assert.ok(!info.includes(first.input) && !info.includes("s3-mirror"), info);
  for (const v of ["cam/cut.mp4", "empty.mp4", "junk.mp4", "trap.mp4"]) assert.ok(lines(s3Run.paths.corruptFilenames).includes(v), v);
  const firstCalls = calls();
  const named = (cs: VideoCall[], op: VideoCall["op"]): string[] => cs.filter((c) => c.op === op).map((c) => path.relative(first.input, c.file)).sort();
  assert.deepEqual(named(firstCalls.addon, "count"), ["cam/a.mp4", "cam/cut.mp4", "junk.mp4", "trap.mp4"]);
  assert.deepEqual(named(firstCalls.addon, "decode"), ["cam/a.mp4", "cam/cut.mp4"]);
  // Probes, decodes and the report's frame times run in process; the one ffmpeg process is the export
  // of the selected frames as image files (output_image_format), guarded like every open of a dataset file.
  assert.equal(firstCalls.cli.length, 1, firstCalls.cli.join("\n"));
  assert.match(firstCalls.cli[0]!, /^ffmpeg .*-protocol_whitelist file -format_whitelist mov,matroska,avi -i file:.*cam\/a\.mp4 .*-f image2 /);

  // Nothing changed in the bucket: nothing downloaded, no packets counted, no video decoded.
  const second = await workerInput("r2");
  assert.equal(second.input, first.input);
  assert.match(second.log.join("\n"), /7 object\(s\), 0 downloaded \(0 bytes\), 7 unchanged, 0 removed/);
  const again = await run({ input: second.input, cacheDir: second.cacheDir, output: out("s3-2"), stream: null, config: CONFIG });
  const againCalls = calls().addon;
  // Frame counts of the probed videos come from the index; only junk.mp4 and trap.mp4, which have
  // none, are probed again (the probe gives up at their first bytes).
  assert.deepEqual(named(againCalls, "count"), ["junk.mp4", "trap.mp4"], "frame counts come from the index");
  assert.deepEqual(named(againCalls, "decode"), [], "no video decoded again");
  assert.deepEqual(csvNames(again.paths.embeddings), expected);
  assert.deepEqual(corrupt(again), bad);

  // The manifest lost (every object downloaded again): the files get the same mtimes (LastModified +
  // the ETag's offset), so the cache still knows every frame and no video is counted or decoded.
  fs.rmSync(path.join(path.dirname(first.input), "manifest.json"));
  const third = await workerInput("r3");
  assert.match(third.log.join("\n"), /7 object\(s\), 7 downloaded \(\d+ bytes\), 0 unchanged/);
  const fresh = await run({ input: third.input, cacheDir: third.cacheDir, output: out("s3-3"), stream: null, config: CONFIG });
  const freshCalls = calls().addon;
  assert.deepEqual(named(freshCalls, "count"), ["junk.mp4", "trap.mp4"]);
  assert.deepEqual(named(freshCalls, "decode"), []);
  assert.deepEqual(csvNames(fresh.paths.embeddings), expected);
  assert.equal(torch.liveTensors(), baseline);
});
