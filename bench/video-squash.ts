// Ablation of the video squash (issue 25): candidate ffmpeg filter chains that bring a 1080p frame to
// S×S rgb24, each measured for closeness to the image path (sharp lanczos3 on the full-size frame as
// ffmpeg decodes it to rgb24: mean |diff| in levels over 8 frames each of testsrc2, sharp edges and
// text, and mandelbrot, fine detail where aliasing shows; 1920x1080 libx264 like the bench video)
// and for CPU two ways:
//  - ffmpeg's CPU seconds for 300 frames (the segment of bench/video-decode.ts; decode + filter,
//    output to /dev/null, `-threads 1`), minus `-f null` decoding alone; rounds interleaved, minimum.
//    Only for the --cpu candidates (default: shipped and before): whole runs vary by ±0.1 s on a
//    shared machine, as much as the differences sought.
//  - the swscale chains alone in process (bench/video-squash-sws.c, built here with cc when
//    pkg-config finds libavcodec-dev & co.): ms a frame on decoded frames held in memory, the steady figure.
//   npx tsx bench/video-squash.ts [--sizes 36,72] [--rounds 3] [--cpu "name|name"] [--no-write]
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import sharp from "sharp";
import { scaleFilter } from "../src/data/video/frames.js";
import { recordRun } from "./bench-doc.js";

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const TICK = 100; // USER_HZ
const self = fileURLToPath(import.meta.url);

/** CPU seconds of this process's reaped children. */
function childCpu(): number {
  const f = fs.readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ");
  return (Number(f[13]) + Number(f[14])) / TICK;
}

function ffmpegCpu(args: string[]): Promise<number> {
  const c0 = childCpu();
  return new Promise((resolve, reject) => {
    const p = spawn("ffmpeg", ["-v", "error", "-nostdin", ...args], { stdio: ["ignore", "ignore", "inherit"] });
    p.on("error", reject);
    p.on("close", (code) => (code === 0 ? resolve(childCpu() - c0) : reject(new Error(`ffmpeg exited with ${code}: ${args.join(" ")}`))));
  });
}

const lanczos = (S: number): string => `scale=${S}:${S}:flags=lanczos:param0=3`;
const pre = (n: number, flags: string, fmt: string): string => `scale='min(iw,${n})':'min(ih,${n})':flags=${flags},format=${fmt}`;

const SHIPPED = "shipped (frames.ts scaleFilter)";
const BEFORE = "before: bilinear to 3S in rgb24, lanczos3 (until 12-07)";
/** name → filter chain for S. "shipped" is whatever src/data/video/frames.ts uses now. */
const CANDIDATES: Record<string, (S: number) => string> = {
  "one step: rgb24 + lanczos3 from full size": (S) => `format=rgb24,${lanczos(S)}`,
  [SHIPPED]: (S) => scaleFilter(S, "lanczos3"),
  [BEFORE]: (S) => `${pre(3 * S, "bilinear", "rgb24")},${lanczos(S)}`,
  "bilinear to 3S in yuv420p, rgb24, lanczos3": (S) => `${pre(3 * S, "bilinear", "yuv420p")},format=rgb24,${lanczos(S)}`,
  "bilinear to 3S in yuv444p, rgb24, lanczos3": (S) => `${pre(3 * S, "bilinear", "yuv444p")},format=rgb24,${lanczos(S)}`,
  "bilinear to 2S in yuv420p, rgb24, lanczos3": (S) => `${pre(2 * S, "bilinear", "yuv420p")},format=rgb24,${lanczos(S)}`,
  "bilinear to 4S in yuv420p, rgb24, lanczos3": (S) => `${pre(4 * S, "bilinear", "yuv420p")},format=rgb24,${lanczos(S)}`,
  "area to 3S in yuv420p, rgb24, lanczos3": (S) => `${pre(3 * S, "area", "yuv420p")},format=rgb24,${lanczos(S)}`,
  "fast_bilinear to 3S in yuv420p, rgb24, lanczos3": (S) => `${pre(3 * S, "fast_bilinear", "yuv420p")},format=rgb24,${lanczos(S)}`,
  "bilinear to 3S in yuv420p, yuv444p (neighbor), lanczos3, rgb24": (S) => `${pre(3 * S, "bilinear", "yuv420p")},scale=flags=neighbor,format=yuv444p,${lanczos(S)},format=rgb24`,
  "bilinear to 3S in yuv420p, yuv444p (bilinear), lanczos3, rgb24": (S) => `${pre(3 * S, "bilinear", "yuv420p")},scale=flags=bilinear,format=yuv444p,${lanczos(S)},format=rgb24`,
  "bilinear to 3S in yuv420p, rgb24, lanczos3 to gbrp, rgb24": (S) => `${pre(3 * S, "bilinear", "yuv420p")},format=rgb24,${lanczos(S)},format=gbrp,format=rgb24`,
  "bilinear to 3S in yuv420p, lanczos3 to rgb24": (S) => `${pre(3 * S, "bilinear", "yuv420p")},${lanczos(S)},format=rgb24`,
  "bilinear to 3S in yuv420p, lanczos3 to yuv444p, rgb24": (S) => `${pre(3 * S, "bilinear", "yuv420p")},${lanczos(S)},format=yuv444p,format=rgb24`,
  "area to 3S in yuv420p, lanczos3 to yuv444p, rgb24": (S) => `${pre(3 * S, "area", "yuv420p")},${lanczos(S)},format=yuv444p,format=rgb24`,
  "bilinear to 3S in yuv420p, lanczos3 to rgb24 (full_chroma_int)": (S) => `${pre(3 * S, "bilinear", "yuv420p")},scale=${S}:${S}:flags=lanczos+full_chroma_int:param0=3`,
  "bilinear to 3S in yuv420p, lanczos3 to gbrp, rgb24": (S) => `${pre(3 * S, "bilinear", "yuv420p")},scale=${S}:${S}:flags=lanczos:param0=3,format=gbrp,format=rgb24`,
};

/** bench/video-squash-sws.c built into `dir` and run on `video` at S; its lines, or why it could not run. */
function swsChains(dir: string, video: string, S: number, rounds: number): string[] {
  try {
    const flags = execFileSync("pkg-config", ["--cflags", "--libs", "libavformat", "libavcodec", "libswscale", "libavutil"], { encoding: "utf8" });
    const exe = path.join(dir, "video-squash-sws");
    if (!fs.existsSync(exe)) execFileSync("cc", ["-O2", "-o", exe, path.join(path.dirname(self), "video-squash-sws.c"), ...flags.trim().split(/\s+/)]);
    return execFileSync(exe, [video, String(S), String(rounds)], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim().split("\n");
  } catch (e) {
    return [`swscale chains not measured (apt-get install libavcodec-dev libavformat-dev libswscale-dev libavutil-dev): ${(e as Error).message.split("\n")[0]}`];
  }
}

/** A 1920x1080 H.264 clip of `frames` frames from a lavfi source (made once per bench run). */
function clip(dir: string, name: string, source: string, frames: number): string {
  const out = path.join(dir, `${name}.mp4`);
  execFileSync("ffmpeg", ["-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i", `${source}=size=1920x1080:rate=30`, "-frames:v", String(frames),
    "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", out]);
  return out;
}

/** Every frame of `file` through `vf` as raw rgb24 bytes, split into frames of `bytes`. */
function rawFrames(file: string, vf: string | null, bytes: number): Buffer[] {
  const out = execFileSync("ffmpeg", ["-v", "error", "-nostdin", "-threads", "1", "-i", file, "-fps_mode", "passthrough", ...(vf ? ["-vf", vf] : []),
    "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"], { maxBuffer: 1 << 30 });
  const frames: Buffer[] = [];
  for (let o = 0; o + bytes <= out.length; o += bytes) frames.push(out.subarray(o, o + bytes));
  return frames;
}

/** Mean |diff| (levels) of the candidate's frames against sharp's lanczos3 on the full rgb24 frames. */
const refs = new Map<string, Buffer[]>();
async function closeness(file: string, vf: string, S: number): Promise<number> {
  if (!refs.has(`${file}|${S}`)) {
    const full = rawFrames(file, null, 1920 * 1080 * 3);
    refs.set(`${file}|${S}`, await Promise.all(full.map((f) => sharp(f, { raw: { width: 1920, height: 1080, channels: 3 } }).resize(S, S, { fit: "fill", kernel: "lanczos3" }).raw().toBuffer())));
  }
  const ref = refs.get(`${file}|${S}`)!;
  const ours = rawFrames(file, vf, S * S * 3);
  if (ours.length !== ref.length) throw new Error(`${vf}: ${ours.length} frames, full decode ${ref.length}`);
  let sum = 0;
  for (let k = 0; k < ref.length; k++) for (let i = 0; i < ref[k]!.length; i++) sum += Math.abs(ref[k]![i]! - ours[k]![i]!);
  return sum / (ref.length * S * S * 3);
}

async function main(): Promise<void> {
  const SIZES = arg("sizes", "36,72").split(",").map(Number);
  const ROUNDS = Number(arg("rounds", "3"));
  const cpuNames = arg("cpu", `${SHIPPED}|${BEFORE}`).split("|");
  for (const n of cpuNames) if (!CANDIDATES[n]) throw new Error(`--cpu: no candidate named ${JSON.stringify(n)}`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "winnow-bench-squash-"));
  const lines: string[] = [];
  const log = (s: string): void => {
    console.log(s);
    lines.push(s);
  };
  try {
    log(`machine: ${os.cpus().length} cores (${os.cpus()[0]?.model}), ${execFileSync("ffmpeg", ["-version"], { encoding: "utf8" }).split(" ").slice(0, 3).join(" ")}; load before: ${os.loadavg().map((x) => x.toFixed(2)).join(", ")}`);
    // The 300-frame segment of bench/video-decode.ts (same settings and cache file).
    const video = path.join(os.tmpdir(), "winnow-bench-video-seg300.mp4");
    if (!fs.existsSync(video)) fs.renameSync(clip(tmp, "cpu", "testsrc2", 300), video);
    const quality = [clip(tmp, "testsrc2", "testsrc2", 8), clip(tmp, "mandelbrot", "mandelbrot", 8)];

    log(`swscale chains alone (video-squash-sws.c; 1080p H.264 frames in memory, min of ${ROUNDS * 4} rounds of 24 frames):`);
    for (const S of SIZES) for (const l of swsChains(tmp, video, S, ROUNDS * 4)) log(`  S=${S} ${l}`);

    const cpu = new Map<string, number[]>();
    const jobs: [string, string[]][] = [["decode", ["-threads", "1", "-i", video, "-map", "0:v:0", "-f", "null", "-"]]];
    for (const S of SIZES) for (const n of cpuNames) {
      jobs.push([`${S}|${n}`, ["-threads", "1", "-i", video, "-map", "0:v:0", "-fps_mode", "passthrough", "-vf", CANDIDATES[n]!(S), "-f", "rawvideo", "-pix_fmt", "rgb24", "-y", "/dev/null"]]);
    }
    for (let r = 0; r < ROUNDS; r++) for (const [key, args] of jobs) cpu.set(key, [...(cpu.get(key) ?? []), await ffmpegCpu(args)]);
    const min = (key: string): number => Math.min(...(cpu.get(key) ?? [NaN]));
    const base = min("decode");
    log(`ffmpeg -threads 1, 300 frames of 1080p H.264: decode alone ${base.toFixed(2)} s CPU (min of ${ROUNDS}); CPU over decode alone:`);
    for (const S of SIZES) for (const n of cpuNames) log(`  S=${S} ${n}: +${(min(`${S}|${n}`) - base).toFixed(2)} s`);

    log(`mean |diff| (levels) vs sharp lanczos3 on the full frame, testsrc2 / mandelbrot (8 frames each):`);
    for (const S of SIZES) for (const n of Object.keys(CANDIDATES)) {
      const vf = CANDIDATES[n]!(S);
      const [d1, d2] = [await closeness(quality[0]!, vf, S), await closeness(quality[1]!, vf, S)];
      log(`  S=${S} ${n}: ${d1.toFixed(2)} / ${d2.toFixed(2)}   [\`${vf}\`]`);
    }
    log(`load after: ${os.loadavg().map((x) => x.toFixed(2)).join(", ")}`);
    if (!process.argv.includes("--no-write")) {
      const cmd = `npx tsx bench/video-squash.ts ${process.argv.slice(2).join(" ")}`.trim();
      recordRun(`## Video squash ablation (video-squash), ${new Date().toISOString().slice(0, 16)} UTC\n\n\`${cmd}\`\n\n${lines.map((l) => `- ${l}`).join("\n")}\n`);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
