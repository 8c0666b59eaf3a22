// Video decode benchmark (issue 25): a generated 1080p H.264 video decoded into the decode-once cache
// (frames/s and CPU seconds, probe included) vs `ffmpeg -i x.mp4 -f null -` (decoding alone) in the
// same script, rounds interleaved, medians; then peak RSS of a cache build for a short and a 10×
// longer video (fresh child processes). The cache build decodes in process (the video addon). Also in
// the rounds: the addon into Node without the cache (decodeFrames), the equivalent ffmpeg command
// writing to /dev/null (ffmpeg's own rate for the same work), that command piped into Node (the path
// before 12-07 15:00; its bytes checked equal to the addon's), the listing's probe alone and the
// ffprobe run it replaced, and libavcodec's decode alone in a small C program (bench/video-libav.c,
// built here with cc when pkg-config finds libavcodec-dev & co.; skipped otherwise).
//   npx tsx bench/video-decode.ts [--frames 1200] [--long 3000] [--sizes 36,72] [--rounds 3] [--threads 0] [--no-write]
// (--long: the long video of the RSS comparison, against 300 frames.)
// The video: lavfi testsrc2 1920x1080 30 fps, 300 frames by libx264 (preset veryfast, crf 23,
// yuv420p: CABAC, B-frames; ~5 Mbit/s), repeated by stream copy (concat demuxer) to --frames.
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { buildImageCache } from "../src/data/index.js";
import { probeVideo } from "../src/data/video/probe.js";
import { decodeArgs, decodeFrames } from "../src/data/video/frames.js";
import { videoAddon } from "../src/data/video/native.js";
import { recordRun } from "./bench-doc.js";

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const self = fileURLToPath(import.meta.url);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const TICK = 100; // USER_HZ: /proc/<pid>/stat times are in 1/100 s on Linux

/** CPU seconds of this process plus its reaped children (ffmpeg, ffprobe), from /proc/self/stat. */
function cpuSeconds(): number {
  const f = fs.readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / TICK; // utime stime cutime cstime
}

async function measure(f: () => Promise<void>): Promise<{ s: number; cpu: number }> {
  const c0 = cpuSeconds();
  const t0 = performance.now();
  await f();
  return { s: (performance.now() - t0) / 1000, cpu: cpuSeconds() - c0 };
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ["ignore", "ignore", "inherit"] });
    p.on("error", reject);
    p.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited with ${code}`))));
  });
}

/** bench/video-libav.c built into `dir`, or null (with the reason printed) when it cannot be. */
function buildLibav(dir: string): string | null {
  try {
    const flags = execFileSync("pkg-config", ["--cflags", "--libs", "libavformat", "libavcodec", "libswscale", "libavutil"], { encoding: "utf8" });
    const exe = path.join(dir, "video-libav");
    execFileSync("cc", ["-O2", "-o", exe, path.join(path.dirname(self), "video-libav.c"), ...flags.trim().split(/\s+/)]);
    return exe;
  } catch (e) {
    console.log(`libav runner not built (apt-get install libavcodec-dev libavformat-dev libswscale-dev libavutil-dev): ${(e as Error).message.split("\n")[0]}`);
    return null;
  }
}

/** Runs the libav runner; its byte sum of all frames (checked against the CLI pipe's). */
function libav(exe: string, video: string, S: number, threads: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn(exe, [video, String(S), String(threads)], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.on("error", reject);
    p.on("close", (code) => (code === 0 ? resolve(Number(/sum=(\d+)/.exec(out)?.[1])) : reject(new Error(`video-libav exited with ${code}`))));
  });
}

/** The video addon into Node alone (decodeFrames, no cache); the byte sum of all frames. */
async function addonOnly(video: string, S: number, threads: number): Promise<number> {
  let sum = 0;
  const r = await decodeFrames(video, { size: S, kernel: "lanczos3", threads, timeoutMs: 600_000 }, (_, px) => {
    for (let i = 0; i < px.length; i++) sum += px[i]!;
  });
  if (r.error) throw new Error(r.error);
  return sum;
}

/** The path before 12-07 15:00: the same ffmpeg command as a child process, raw frames over a pipe into Node; the byte sum. */
function cliPipe(video: string, S: number, threads: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn("ffmpeg", decodeArgs(video, { size: S, kernel: "lanczos3", threads }), { stdio: ["ignore", "pipe", "inherit"] });
    let sum = 0;
    p.stdout.on("data", (d: Buffer) => {
      for (let i = 0; i < d.length; i++) sum += d[i]!;
    });
    p.on("error", reject);
    p.on("close", (code) => (code === 0 ? resolve(sum) : reject(new Error(`ffmpeg exited with ${code}`))));
  });
}

/** A folder holding one 1080p H.264 video of `frames` frames (a multiple of 300). */
function makeVideo(dir: string, frames: number): string {
  const seg = path.join(os.tmpdir(), "winnow-bench-video-seg300.mp4");
  if (!fs.existsSync(seg)) {
    execFileSync("ffmpeg", ["-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30", "-frames:v", "300",
      "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", `${seg}.tmp.mp4`]);
    fs.renameSync(`${seg}.tmp.mp4`, seg);
  }
  fs.mkdirSync(dir, { recursive: true });
  const list = path.join(dir, "..", `list-${frames}.txt`);
  fs.writeFileSync(list, `file '${seg}'\n`.repeat(Math.ceil(frames / 300)));
  const out = path.join(dir, "video.mp4");
  execFileSync("ffmpeg", ["-v", "error", "-nostdin", "-y", "-f", "concat", "-safe", "0", "-i", list, "-c", "copy", out]);
  return out;
}

/** Child mode: one cache build; prints its own peak RSS (MiB) and the frames stored. */
async function child(root: string, cacheDir: string, S: number, threads: number): Promise<void> {
  const cache = await buildImageCache(root, { cacheDir, resolution: S, videos: { threads } });
  console.log(JSON.stringify({ nodeMaxRssMB: process.resourceUsage().maxRSS / 1024, frames: cache.length, failed: cache.stats.failed }));
  cache.close();
}

/** Peak RSS of a cache build in a fresh process: Node's own, and the largest of Node and ffmpeg (GNU time's %M). */
function rssOf(root: string, cacheDir: string, S: number, threads: number): { nodeMB: number; anyMB: number; frames: number } {
  const timeOut = path.join(cacheDir, "..", `time-${path.basename(cacheDir)}.txt`);
  const out = execFileSync("/usr/bin/time", ["-f", "%M", "-o", timeOut, process.execPath, ...process.execArgv, self, "--child", root, cacheDir, String(S), String(threads)], { encoding: "utf8" });
  const j = JSON.parse(out.trim().split("\n").pop()!) as { nodeMaxRssMB: number; frames: number; failed: number };
  if (j.failed) throw new Error(`${j.failed} frames failed`);
  return { nodeMB: j.nodeMaxRssMB, anyMB: Number(fs.readFileSync(timeOut, "utf8").trim().split("\n").pop()) / 1024, frames: j.frames };
}

async function main(): Promise<void> {
  const FRAMES = Number(arg("frames", "1200"));
  const SIZES = arg("sizes", "36,72").split(",").map(Number);
  const ROUNDS = Number(arg("rounds", "3"));
  const THREADS = Number(arg("threads", "0"));
  const LONG = Number(arg("long", "3000"));
  const lines: string[] = [];
  const log = (s: string): void => {
    console.log(s);
    lines.push(s);
  };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "winnow-bench-video-"));
  try {
    const load0 = os.loadavg().map((x) => x.toFixed(2)).join(", ");
    const root = path.join(tmp, "long");
    const video = makeVideo(root, FRAMES);
    const info = await probeVideo(video);
    const mbit = (fs.statSync(video).size * 8) / 1e6 / info.durationS;
    const libs = Object.entries(videoAddon().versions()).map(([k, v]) => `${k} ${v}`).join(", ");
    log(`machine: ${os.cpus().length} cores (${os.cpus()[0]?.model}), node ${process.version}, ${execFileSync("ffmpeg", ["-version"], { encoding: "utf8" }).split(" ").slice(0, 3).join(" ")}; the addon's ${libs}`);
    log(`video: ${info.width}x${info.height} ${info.codec}, ${info.frames} frames, ${info.durationS.toFixed(1)} s, ${mbit.toFixed(1)} Mbit/s; ffmpeg -threads ${THREADS}; load before: ${load0}`);

    const exe = buildLibav(tmp);
    const T = String(THREADS);
    // name → one measured run; rounds take turns through all of them.
    const runners: [string, () => Promise<void>][] = [
      ["ffmpeg -f null (CLI, decode only)", () => run("ffmpeg", ["-v", "error", "-nostdin", "-threads", T, "-i", video, "-map", "0:v:0", "-f", "null", "-"])],
      // The listing's probe alone (part of every cache build of a new video): in process, and the ffprobe run it replaced.
      ["probe in process (the listing's; counts packets)", async () => void (await probeVideo(video))],
      ["ffprobe -count_packets (CLI, the probe before 12-07 15:00)", () => run("ffprobe", ["-v", "error", "-select_streams", "v:0", "-count_packets", "-show_streams", "-show_format", "-of", "json", video])],
    ];
    if (exe) runners.push(["libav, decode only", async () => void (await libav(exe, video, 0, THREADS))]);
    const sums = new Map<string, number>();
    for (const S of SIZES) {
      runners.push([`cache build S=${S} (in process: probe, decode + squash, sha256, store)`, async () => {
        const cacheDir = path.join(tmp, `cache-${S}`);
        const cache = await buildImageCache(root, { cacheDir, resolution: S, videos: { threads: THREADS } });
        const n = cache.length;
        cache.close();
        fs.rmSync(cacheDir, { recursive: true, force: true });
        if (n !== info.frames) throw new Error(`cache holds ${n} frames, the video has ${info.frames}`);
      }]);
      runners.push([`video addon into Node S=${S} (decode + squash, no cache)`, async () => void sums.set(`addon${S}`, await addonOnly(video, S, THREADS))]);
      // ffmpeg's own rate for the same work: the equivalent command line, output to /dev/null (no Node).
      const args = decodeArgs(video, { size: S, kernel: "lanczos3", threads: THREADS }, "/dev/null");
      runners.push([`ffmpeg decode + squash S=${S} > /dev/null (CLI, no Node)`, () => run("ffmpeg", args)]);
      runners.push([`CLI pipe into Node S=${S} (the path before 12-07 15:00, no cache)`, async () => void sums.set(`pipe${S}`, await cliPipe(video, S, THREADS))]);
    }
    const times = new Map(runners.map(([name]) => [name, { s: [] as number[], cpu: [] as number[] }]));
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, f] of runners) {
        const m = await measure(f);
        times.get(name)!.s.push(m.s);
        times.get(name)!.cpu.push(m.cpu);
      }
    }
    for (const S of SIZES) if (sums.get(`pipe${S}`) !== sums.get(`addon${S}`)) throw new Error(`S=${S}: the addon's pixels differ from the CLI's`);
    const refS = median(times.get(runners[0]![0])!.s);
    const refCpu = median(times.get(runners[0]![0])!.cpu);
    log(`median of ${ROUNDS} rounds; "rate" = frames/s ÷ ffmpeg -f null's, "CPU efficiency" = ffmpeg -f null's CPU s ÷ this one's; the addon's frames = the CLI's (byte sums equal):`);
    for (const [name] of runners) {
      const s = median(times.get(name)!.s);
      const cpu = median(times.get(name)!.cpu);
      log(`  ${name}: ${(info.frames / s).toFixed(0)} frames/s (${s.toFixed(2)} s wall, ${cpu.toFixed(2)} s CPU) = ${(refS / s).toFixed(2)}× rate, ${(refCpu / cpu).toFixed(2)}× CPU efficiency`);
    }

    const short = path.join(tmp, "short");
    makeVideo(short, 300);
    const long = path.join(tmp, "rss-long");
    makeVideo(long, LONG);
    const S = SIZES[SIZES.length - 1]!;
    for (const dir of [short, long]) {
      const m = rssOf(dir, path.join(tmp, `rss-cache-${path.basename(dir)}`), S, THREADS);
      log(`peak RSS, cache build of ${m.frames} frames at S=${S} (decoder in process): ${m.nodeMB.toFixed(0)} MiB (GNU time: ${m.anyMB.toFixed(0)} MiB)`);
    }
    log(`load after: ${os.loadavg().map((x) => x.toFixed(2)).join(", ")}`);
    if (!process.argv.includes("--no-write")) {
      const cmd = `npx tsx bench/video-decode.ts ${process.argv.slice(2).join(" ")}`.trim();
      recordRun(`## Video decode (video-decode), ${new Date().toISOString().slice(0, 16)} UTC\n\n\`${cmd}\`\n\n${lines.map((l) => `- ${l}`).join("\n")}\n`);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[2] === "--child") await child(process.argv[3]!, process.argv[4]!, Number(process.argv[5]), Number(process.argv[6]));
else await main();
