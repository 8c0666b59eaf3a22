import "./quality-env.js";
// Memory benchmark: peak RSS of building the image cache and of embedding N images, for several N
// (should be flat in N: pixels stay on disk, embeddings are streamed to disk batch by batch).
// Each phase runs in a fresh child process (this file with --child) that reports
// process.resourceUsage().maxRSS and RSS samples along the way.
//
// Images: N generated 32×32 RGB PNGs with distinct bytes (1,000 per sub-folder).
// Embedding: embedImages() with the default outputs (embeddings.csv + .f32 + .json), random-init
// resnet-18 width 0.25 (the compute does not depend on the weights), input 32, batch 128, CPU.
//
// --model: another backbone, e.g. torchvision/resnet50 or dinov2/vits14 (random weights; --width does not apply).
//
//   npx tsx bench/memory-embed.ts [--sizes 10000,100000] [--side 32] [--size 32] [--width 0.25] [--model resnet-18]
//        [--batch 128] [--threads 2] [--work /tmp/winnow-bench] [--no-write]
import * as fs from "node:fs";
import * as path from "node:path";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { prepareSynthetic, loadavg, machineLine, today, appendSection, arg, argStr, flag, shellArgs } from "./quality-data.js";
import { OMP_SETTING } from "./quality-env.js";

const self = fileURLToPath(import.meta.url);
const SIDE = arg("side", 32);
const SIZE = arg("size", 32);
const WIDTH = arg("width", 0.25);
const MODEL = argStr("model", "resnet-18");
const BATCH = arg("batch", 128);
const THREADS = arg("threads", 2);
const WORK = argStr("work", "/tmp/winnow-bench");
const WRITE = !flag("no-write");
const CHILD = argStr("child", "");

interface ChildReport {
  phase: string;
  n: number;
  maxRssMB: number;
  ms: number;
  imagesPerSecond: number;
  /** RSS (MB) at 10%, 25%, 50%, 75%, 100% of the images. */
  rssAt: number[];
  /** Peak RSS so far (MB) at: modules loaded, cache opened, first batch done, 50%, 100%, process end. */
  peakAt: number[];
  rssStartMB: number;
  note: string;
}

const mb = (bytes: number): number => bytes / 2 ** 20;

async function child(): Promise<void> {
  const torch = await import("../src/torch/index.js");
  const { buildImageCache, openImageCache, cacheSizeFor } = await import("../src/data/index.js");
  const { parseLightlyConfig } = await import("../src/config/lightly-config.js");
  const { embedImages } = await import("../src/pipeline/embed.js");
  torch.setNumThreads(THREADS);
  const root = argStr("root", "");
  const cacheDir = argStr("cache", "");
  const marks = [0.1, 0.25, 0.5, 0.75, 1];
  const rssAt: number[] = [];
  const peak = (): number => process.resourceUsage().maxRSS / 1024;
  const peakAt: number[] = [peak()];
  let half = false;
  const progress = (done: number, total: number): void => {
    if (peakAt.length === 2 && done > 0) peakAt.push(peak());
    if (!half && done >= total / 2) {
      half = true;
      peakAt.push(peak());
    }
    while (rssAt.length < marks.length && done >= marks[rssAt.length]! * total) rssAt.push(mb(process.memoryUsage.rss()));
  };
  const rssStartMB = mb(process.memoryUsage.rss());
  const t0 = performance.now();
  let n = 0;
  let note = "";
  if (CHILD === "build") {
    const c = await buildImageCache(root, { cacheDir, resolution: cacheSizeFor(SIZE), removeExactDuplicates: true, onProgress: progress });
    n = c.length;
    note = `${c.stats.decoded} decoded, ${c.corruptFilenames.length} failed, ${c.duplicates.length} duplicates`;
    c.close();
  } else {
    const config = parseLightlyConfig({
      loader: { batch_size: BATCH }, model: { name: MODEL, width: WIDTH }, trainer: { gpus: 0 }, collate: { input_size: SIZE },
    });
    const dir = fs.readdirSync(cacheDir).map((d) => path.join(cacheDir, d)).find((d) => fs.existsSync(path.join(d, "index.bin")))!;
    const c = openImageCache(dir);
    peakAt.push(peak());
    const out = path.join(WORK, "out-memory", String(c.length));
    fs.rmSync(out, { recursive: true, force: true });
    const r = embedImages({ cache: c, config, outDir: out, device: "cpu", onProgress: progress });
    peakAt.push(peak());
    n = r.n;
    note = `${r.n} × ${r.d}, csv ${(fs.statSync(r.csvPath!).size / 2 ** 20).toFixed(1)} MB`;
    c.close();
    fs.rmSync(out, { recursive: true, force: true });
  }
  const ms = performance.now() - t0;
  const report: ChildReport = {
    phase: CHILD, n, maxRssMB: process.resourceUsage().maxRSS / 1024, ms, imagesPerSecond: (n * 1000) / ms, rssAt, rssStartMB, note,
    peakAt: [...peakAt, peak()],
  };
  process.stdout.write(`REPORT ${JSON.stringify(report)}\n`);
}

function runChild(phase: string, root: string, cacheDir: string, env: NodeJS.ProcessEnv = {}): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [...process.execArgv, self, "--child", phase, "--root", root, "--cache", cacheDir, ...process.argv.slice(2)], {
      stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, ...env },
    });
    let out = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.on("exit", (code) => {
      const line = out.split("\n").find((l) => l.startsWith("REPORT "));
      if (code !== 0 || !line) reject(new Error(`child ${phase} exited ${code}: ${out.slice(-2000)}`));
      else resolve(JSON.parse(line.slice(7)) as ChildReport);
    });
  });
}

async function parent(): Promise<void> {
  const sizes = argStr("sizes", "10000,100000").split(",").map(Number);
  const tStart = performance.now();
  const loads = [loadavg()];
  const rows: Array<{ n: number; genS: number; build: ChildReport; embed: ChildReport; embedMalloc?: ChildReport }> = [];
  for (const n of sizes) {
    const root = path.join(WORK, `synthetic-${n}-${SIDE}px`);
    const genS = prepareSynthetic(root, n, SIDE);
    console.log(`${n} PNGs ${SIDE}×${SIDE} (generated in ${genS.toFixed(1)} s; 0 = reused), load ${loadavg()}`);
    const cacheDir = path.join(WORK, "cache", `memory-${n}`);
    fs.rmSync(cacheDir, { recursive: true, force: true });
    const build = await runChild("build", root, cacheDir);
    console.log(`  build: ${build.n} images in ${(build.ms / 1000).toFixed(1)} s (${build.imagesPerSecond.toFixed(0)} img/s), peak RSS ${build.maxRssMB.toFixed(0)} MB, load ${loadavg()}`);
    const embed = await runChild("embed", root, cacheDir);
    console.log(`  embed: ${embed.n} images in ${(embed.ms / 1000).toFixed(1)} s (${embed.imagesPerSecond.toFixed(0)} img/s), peak RSS ${embed.maxRssMB.toFixed(0)} MB, RSS along the way ${embed.rssAt.map((x) => x.toFixed(0)).join("/")} MB, peak so far after load/open/1st batch/50%/end/exit ${embed.peakAt.map((x) => x.toFixed(0)).join("/")} MB, load ${loadavg()}`);
    let embedMalloc: ChildReport | undefined;
    if (flag("malloc")) {
      embedMalloc = await runChild("embed", root, cacheDir, { MALLOC_MMAP_THRESHOLD_: "1048576" });
      console.log(`  embed (MALLOC_MMAP_THRESHOLD_=1048576): peak RSS ${embedMalloc.maxRssMB.toFixed(0)} MB, peak so far after load/open/1st batch/50%/end/exit ${embedMalloc.peakAt.map((x) => x.toFixed(0)).join("/")} MB`);
    }
    rows.push({ n, genS, build, embed, embedMalloc });
    loads.push(loadavg());
    if (!flag("keep")) fs.rmSync(cacheDir, { recursive: true, force: true });
  }
  const totalS = (performance.now() - tStart) / 1000;
  const f0 = (x: number): string => x.toFixed(0);
  const table = [
    "| N images | generate PNGs | cache build: time (img/s) | **build peak RSS** | embed: time (img/s) | embed RSS after loading | **embed peak RSS** | embed RSS at 10/25/50/75/100% | embed peak so far after load / open / 1st batch / 50% / end | embeddings.csv |" +
      (flag("malloc") ? " embed peak RSS, MALLOC_MMAP_THRESHOLD_=1048576 |" : ""),
    "|---:|---:|---:|---:|---:|---:|---:|---|---|---|" + (flag("malloc") ? "---:|" : ""),
    ...rows.map(
      (r) =>
        `| ${r.n.toLocaleString("en-US")} | ${r.genS ? `${r.genS.toFixed(0)} s` : "reused"} | ${(r.build.ms / 1000).toFixed(0)} s (${f0(r.build.imagesPerSecond)}) | **${f0(r.build.maxRssMB)} MB** | ` +
        `${(r.embed.ms / 1000).toFixed(0)} s (${f0(r.embed.imagesPerSecond)}) | ${f0(r.embed.rssStartMB)} MB | **${f0(r.embed.maxRssMB)} MB** | ${r.embed.rssAt.map(f0).join(" / ")} MB | ${r.embed.peakAt.slice(0, 5).map(f0).join(" / ")} MB | ${r.embed.note.split("csv ")[1]} |` +
        (r.embedMalloc ? ` ${f0(r.embedMalloc.maxRssMB)} MB |` : ""),
    ),
  ].join("\n");
  console.log(`\n${table}\ntotal ${totalS.toFixed(0)} s, load ${loads.join(" → ")}`);
  if (WRITE) {
    const cmd = `npx tsx bench/memory-embed.ts${process.argv.length > 2 ? " " + shellArgs() : ""}`;
    appendSection(`
### Memory: peak RSS of cache build and embedding vs N (${today()})

- Command: \`${cmd}\` (effective: N = ${sizes.join(", ")}; ${SIDE}×${SIDE} RGB PNGs; cache ${SIZE} px input → ${Math.round(SIZE * 1.125)} px slots; embedImages with csv + f32 output, random-init ${MODEL}${MODEL.includes("/") ? "" : ` width ${WIDTH}`}, batch ${BATCH}, CPU, ${THREADS} threads).
- Machine: ${machineLine()}; OpenMP wait: ${OMP_SETTING}; load average ${loads.join(" → ")} (start, after each N; shared machine). Total wall time ${totalS.toFixed(0)} s.
- Each phase is a fresh child process (\`node --import tsx bench/memory-embed.ts --child build|embed\`); peak = \`process.resourceUsage().maxRSS\` at its end, RSS samples from \`process.memoryUsage.rss()\` in the progress callback. The embed process opens the cache built by the build process (openImageCache) and embeds every image.

${table}
`);
  }
}

if (CHILD) await child();
else await parent();
