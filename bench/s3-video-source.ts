// Videos in an S3 datasource (issue 25): the worker's way (mirror the object to disk, then count
// packets and decode the local file: in process since 12-07 15:00, ffprobe + ffmpeg before, as in
// the recorded runs) vs ffprobe + ffmpeg reading a presigned URL
// (no local copy; http/tcp let through -protocol_whitelist). Same video, same decode arguments
// (S=36, lanczos3), rounds interleaved, medians: wall, CPU (this process + ffmpeg/ffprobe), and the
// bytes the object store sent. The store is a local S3 server on loopback (test/helpers/s3.ts), so
// transfer time is near zero here: the bytes column is what a real bucket would bill and wait for.
//   npx tsx bench/s3-video-source.ts [--frames 300] [--rounds 3] [--threads 1] [--no-write]
// The video: lavfi testsrc2 1920x1080 30 fps by libx264 (veryfast, crf 23, yuv420p), moov at the end
// (ffmpeg's default, as cameras write it).
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { mirrorS3Prefix } from "../src/data/s3-mirror.js";
import { probeVideo } from "../src/data/video/probe.js";
import { decodeArgs, decodeFrames } from "../src/data/video/frames.js";
import { s3Client } from "../src/s3/client.js";
import { startS3 } from "../test/helpers/s3.js";
import { recordRun } from "./bench-doc.js";

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const FRAMES = Number(arg("frames", "300"));
const ROUNDS = Number(arg("rounds", "3"));
const THREADS = Number(arg("threads", "1"));
const S = 36;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** CPU seconds of this process plus its reaped children (ffmpeg, ffprobe), from /proc/self/stat. */
function cpuSeconds(): number {
  const f = fs.readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100;
}

function tool(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (err += d));
    p.on("error", reject);
    p.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited with ${code}: ${err.trim().split("\n").pop()}`))));
  });
}

const lines: string[] = [];
const log = (l: string): void => void (console.log(l), lines.push(l));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "winnow-bench-s3-video-"));
const s3 = await startS3(["bench-videos"]);
Object.assign(process.env, s3.env);
const client = s3Client();
try {
  const load0 = os.loadavg().map((x) => x.toFixed(2)).join(", ");
  const video = path.join(tmp, "clip.mp4");
  execFileSync("ffmpeg", ["-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30", "-frames:v", String(FRAMES),
    "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", video]);
  const size = fs.statSync(video).size;
  await client.send(new PutObjectCommand({ Bucket: "bench-videos", Key: "ds/clip.mp4", Body: fs.readFileSync(video) }));
  const url = await getSignedUrl(client, new GetObjectCommand({ Bucket: "bench-videos", Key: "ds/clip.mp4" }), { expiresIn: 3600 });
  log(`machine: ${os.cpus().length} cores (${os.cpus()[0]?.model}), node ${process.version}; ffmpeg threads ${THREADS}; load before ${load0}`);
  log(`video: ${FRAMES} frames 1920x1080 H.264, ${(size / 1e6).toFixed(1)} MB, moov at the end; S=${S}`);

  const opts = { size: S, kernel: "lanczos3" as const, threads: THREADS, timeoutMs: 600_000 };
  const results = { mirror: [] as { s: number; cpu: number; mb: number; n: number }[], url: [] as { s: number; cpu: number; mb: number; n: number }[] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const way of ["mirror", "url"] as const) {
      const b0 = s3.bytesSent();
      const q0 = s3.requests.length;
      const c0 = cpuSeconds();
      const t0 = performance.now();
      let frames = 0;
      if (way === "mirror") {
        const m = await mirrorS3Prefix("s3://bench-videos/ds", path.join(tmp, `mirror-${r}`), { client });
        const abs = path.join(m.dir, "clip.mp4");
        const info = await probeVideo(abs);
        const d = await decodeFrames(abs, opts, () => {});
        if (info.frames !== FRAMES || d.decoded !== FRAMES) throw new Error(`mirror: ${info.frames} counted, ${d.decoded} decoded`);
        frames = d.decoded;
      } else {
        const j = JSON.parse(await tool("ffprobe", ["-v", "error", "-protocol_whitelist", "http,tcp", "-select_streams", "v:0", "-count_packets", "-show_streams", "-of", "json", url])) as { streams: { nb_read_packets: string }[] };
        // The product's decode arguments with the input swapped for the URL (and its protocols let through).
        const args = decodeArgs("/x", opts, "-").map((a) => (a === "file:/x" ? url : a === "file" ? "http,tcp" : a));
        const raw = await new Promise<number>((resolve, reject) => {
          const p = spawn("ffmpeg", args, { stdio: ["ignore", "pipe", "inherit"] });
          let n = 0;
          p.stdout.on("data", (d: Buffer) => (n += d.length));
          p.on("error", reject);
          p.on("close", (code) => (code === 0 ? resolve(n) : reject(new Error(`ffmpeg exited with ${code}`))));
        });
        frames = raw / (S * S * 3);
        if (Number(j.streams[0]!.nb_read_packets) !== FRAMES || frames !== FRAMES) throw new Error(`url: ${j.streams[0]!.nb_read_packets} counted, ${frames} decoded`);
      }
      results[way].push({ s: (performance.now() - t0) / 1000, cpu: cpuSeconds() - c0, mb: (s3.bytesSent() - b0) / 1e6, n: s3.requests.length - q0 });
    }
  }
  log("");
  log("| way (count + decode of one video) | wall s | CPU s | MB from the store | requests |");
  log("|---|---|---|---|---|");
  for (const way of ["mirror", "url"] as const) {
    const xs = results[way];
    log(`| ${way === "mirror" ? "mirror to disk, then local file" : "presigned URL (http,tcp)"} | ${median(xs.map((x) => x.s)).toFixed(2)} | ${median(xs.map((x) => x.cpu)).toFixed(2)} | ${median(xs.map((x) => x.mb)).toFixed(1)} | ${median(xs.map((x) => x.n))} |`);
  }
  log("");
  log(`load after: ${os.loadavg().map((x) => x.toFixed(2)).join(", ")}`);
  if (!process.argv.includes("--no-write")) {
    const cmd = `npx tsx bench/s3-video-source.ts ${process.argv.slice(2).join(" ")}`.trim();
    recordRun(`## S3 video source (s3-video-source), ${new Date().toISOString().slice(0, 16)} UTC\n\n\`${cmd}\`\n\n${lines.map((l) => (l === "" || l.startsWith("|") ? l : `- ${l}`)).join("\n")}\n`);
  }
} finally {
  client.destroy();
  await s3.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
}
