// The run's report: report.json (everything the HTML shows, as data) and report.html, one
// self-contained file that opens offline: inline SVG plots (training loss, a 2-D PCA map of the
// embeddings with the selection highlighted, nearest-neighbour distance histograms before/after
// selection), a grid of selected images as inline thumbnails, the corrupt/duplicate lists, stage
// timings and the resolved config. No scripts, no external resources.
import * as path from "node:path";
import * as fs from "node:fs";
import sharp from "sharp";
import type { RunConfig } from "../config/run-config.js";
import type { CorruptFile, DuplicateFile } from "../data/index.js";
import { paddedCropBox } from "../data/index.js";
import type { CropInfo } from "../predictions/index.js";
import type { TaskIssues } from "./object-level.js";
import type { StageTiming } from "./store.js";
import type { StartingWeights } from "./pretrained.js";
import { pca2, nearestNeighbourDistances, histogram, capIndices, type Histogram } from "./report-math.js";
import { writeFileAtomic } from "../util/atomic.js";
import { jsonText } from "./files.js";
import { runPaths } from "./paths.js";

export const REPORT_FORMAT = "winnow-report/1";
/** The starting weights' provenance as one sentence (zoo key + sha256, checkpoint path, run id). */
export function startingWeightsText(w: StartingWeights): string {
  switch (w.kind) {
    case "zoo": return `Lightly's model zoo ${w.zooKey}, sha256 ${w.sha256}, from ${w.path} (${w.foundIn})`;
    case "backbone": return `${w.backbone}'s published weights, sha256 ${w.sha256}, from ${w.path} (${w.foundIn})`;
    case "checkpoint": return `checkpoint ${w.path}`;
    case "url": return `checkpoint downloaded from ${w.url}`;
    case "run": case "datapool": case "resume": return `${w.kind === "run" ? "checkpoint of run" : w.kind === "datapool" ? "datapool checkpoint of run" : "resumed run"} ${w.runId} (${w.path})`;
    case "custom-embeddings": return "none (custom embeddings)";
    default: return w.warning ? `random initialisation. Warning: ${w.warning}` : "random initialisation (lightly_config.pre_trained: false)";
  }
}

/** Points on the map and rows in the nearest-neighbour statistics (O(n²) in plain JavaScript). */
export const REPORT_MAX_POINTS = 3000;
export const REPORT_MAX_THUMBNAILS = 120;

export interface ReportInput {
  runId: string;
  input: string;
  output: string;
  startedAt: string;
  endedAt: string;
  durationMs: number;
  stages: StageTiming[];
  config: RunConfig;
  counts: { files: number; images: number; corrupt: number; duplicates: number; embedded: number; selected: number; datapoolBefore: number; datapoolAfter: number };
  training: null | { epochs: number; epochLosses: number[]; stepLosses: number[]; checkpoint: string | null; startedFrom: string | null; imagesPerSecond: number; device: string; durationMs: number };
  /** startingWeights: where the run's starting weights came from (run.json's record of it). */
  embedding: { n: number; d: number; weights: string; checkpoint: string | null; source: string; startingWeights?: StartingWeights | null };
  selection: { filenames: string[]; stoppedBy: string; datapoolFilenames: string[] };
  /** Runs that read predictions (crop selection, training on crops, SCORES/PREDICTIONS inputs); null otherwise. */
  objects?: ObjectsReport | null;
  corrupt: CorruptFile[];
  /** Videos dropped as corrupt (corrupt_videos of corruptness_check_information.json). */
  corruptVideos?: Array<{ video: string; reason: string }>;
  /** Selected video frames (first REPORT_MAX_THUMBNAILS): their video, time and thumbnail (src/run/video-report.ts). */
  frames?: Map<string, { video: string; frame: number; seconds: number | null; caption: string; uri: string | null }>;
  duplicates: DuplicateFile[];
  notes: string[];
  /** Embeddings as selection saw them (normalised when normalize_embeddings), row i = filenames[i]. */
  filenames: string[];
  values: Float32Array;
  d: number;
  /** Indices of the new picks and of the earlier datapool samples. */
  selectedIdx: number[];
  datapoolIdx: number[];
}

export interface ObjectsReport {
  predictionsDir: string;
  /** Task whose crops were selected (null: whole images were). */
  selectTask: string | null;
  /** Task whose crops the model was trained on. */
  trainTask: string | null;
  /** Tasks whose scores/predictions selection inputs read. */
  valueTasks: string[];
  padding: number;
  /** Crops embedded (crop selection). */
  crops: number | null;
  /** Crop selection: the new picks in order (file, box, category, score). */
  selectedCrops: CropInfo[] | null;
  /** The images in selected_filenames.txt (for crop selection: those holding a selected crop). */
  selectedImages: string[];
  /** Per task: malformed files, bad predictions, crops that could not be cut. */
  issues: TaskIssues[];
}

/** report.json: the run's input fields as given, plus what the report computes. */
export interface RunReport extends Pick<ReportInput, "runId" | "input" | "output" | "startedAt" | "endedAt" | "durationMs" | "stages" | "config" | "counts" | "training"> {
  format: string;
  state: "COMPLETED";
  embedding: ReportInput["embedding"];
  selection: ReportInput["selection"];
  objects: ObjectsReport | null;
  corrupt: CorruptFile[];
  corruptVideos: Array<{ video: string; reason: string }>;
  /** Selected frames shown: name → video, frame index, seconds from the video's first frame. */
  selectedFrames: Array<{ filename: string; video: string; frame: number; seconds: number | null }>;
  duplicates: DuplicateFile[];
  nearestNeighbour: { before: Histogram; after: Histogram; sampled: number };
  map: { method: "pca"; points: number; selected: number };
  thumbnails: number;
  notes: string[];
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
const num = (v: number, digits = 4): string => (Number.isFinite(v) ? Number(v.toPrecision(digits)).toString() : String(v));

function lossSvg(step: number[], epoch: number[], stepsPerEpoch: number): string {
  const W = 640;
  const H = 240;
  const m = { l: 56, r: 12, t: 12, b: 32 };
  const all = [...step, ...epoch].filter(Number.isFinite);
  if (!all.length) return "<p>No training steps.</p>";
  let lo = Math.min(...all);
  let hi = Math.max(...all);
  if (hi - lo < 1e-9) {
    lo -= 0.5;
    hi += 0.5;
  }
  const nx = Math.max(1, step.length - 1);
  const X = (i: number): number => m.l + ((W - m.l - m.r) * i) / nx;
  const Y = (v: number): number => m.t + ((H - m.t - m.b) * (hi - v)) / (hi - lo);
  const pts = step.map((v, i) => `${X(i).toFixed(1)},${Y(v).toFixed(1)}`).join(" ");
  const ep = epoch.map((v, e) => `<circle class="epoch-point" cx="${X(Math.min(nx, (e + 1) * stepsPerEpoch - 1)).toFixed(1)}" cy="${Y(v).toFixed(1)}" r="4"><title>epoch ${e + 1}: ${num(v)}</title></circle>`).join("");
  return `<svg id="loss-curve" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="training loss">
<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${H - m.t - m.b}" fill="#fafafa" stroke="#ccc"/>
<text x="${m.l - 6}" y="${Y(hi) + 4}" text-anchor="end" font-size="11">${num(hi)}</text><text x="${m.l - 6}" y="${Y(lo)}" text-anchor="end" font-size="11">${num(lo)}</text>
<text x="${(W + m.l) / 2}" y="${H - 6}" text-anchor="middle" font-size="11">step (${step.length} steps; dots: epoch means)</text>
<polyline class="loss-line" fill="none" stroke="#1f77b4" stroke-width="1.5" points="${pts}"/>${ep}</svg>`;
}

function mapSvg(xy: Float64Array, idx: number[], sel: Set<number>, pool: Set<number>, names: string[]): string {
  const W = 520;
  const H = 520;
  const pad = 16;
  if (!idx.length) return "<p>No embeddings.</p>";
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (let k = 0; k < idx.length; k++) {
    x0 = Math.min(x0, xy[k * 2]!); x1 = Math.max(x1, xy[k * 2]!);
    y0 = Math.min(y0, xy[k * 2 + 1]!); y1 = Math.max(y1, xy[k * 2 + 1]!);
  }
  const sx = x1 - x0 > 1e-12 ? (W - 2 * pad) / (x1 - x0) : 1;
  const sy = y1 - y0 > 1e-12 ? (H - 2 * pad) / (y1 - y0) : 1;
  const dots: string[] = [];
  const top: string[] = [];
  for (let k = 0; k < idx.length; k++) {
    const i = idx[k]!;
    const cx = (pad + (xy[k * 2]! - x0) * sx).toFixed(1);
    const cy = (H - pad - (xy[k * 2 + 1]! - y0) * sy).toFixed(1);
    const title = `<title>${esc(names[i]!)}</title>`;
    if (sel.has(i)) top.push(`<circle class="pt selected" cx="${cx}" cy="${cy}" r="5" fill="#d62728" stroke="#000" stroke-width="0.6">${title}</circle>`);
    else if (pool.has(i)) top.push(`<circle class="pt datapool" cx="${cx}" cy="${cy}" r="4.5" fill="#ff7f0e" stroke="#000" stroke-width="0.5">${title}</circle>`);
    else dots.push(`<circle class="pt" cx="${cx}" cy="${cy}" r="3" fill="#9aa9b8">${title}</circle>`);
  }
  return `<svg id="embedding-map" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="PCA map of the embeddings">
<rect x="0" y="0" width="${W}" height="${H}" fill="#fff" stroke="#ccc"/>${dots.join("")}${top.join("")}</svg>`;
}

function histSvg(id: string, h: Histogram, color: string, maxCount: number): string {
  const W = 320;
  const H = 160;
  const m = { l: 8, r: 8, t: 8, b: 28 };
  const bw = (W - m.l - m.r) / h.counts.length;
  const bars = h.counts.map((c, k) => {
    const bh = maxCount > 0 ? ((H - m.t - m.b) * c) / maxCount : 0;
    return `<rect class="bar" x="${(m.l + k * bw).toFixed(1)}" y="${(H - m.b - bh).toFixed(1)}" width="${Math.max(0.5, bw - 1).toFixed(1)}" height="${bh.toFixed(1)}" fill="${color}"><title>[${num(h.edges[k]!)}, ${num(h.edges[k + 1]!)}): ${c}</title></rect>`;
  }).join("");
  return `<svg id="${id}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img">
<rect x="0" y="0" width="${W}" height="${H}" fill="#fafafa" stroke="#ccc"/>${bars}
<text x="${m.l}" y="${H - 8}" font-size="11">${num(h.edges[0]!)}</text><text x="${W - m.r}" y="${H - 8}" font-size="11" text-anchor="end">${num(h.edges[h.edges.length - 1]!)}</text>
<text x="${W / 2}" y="${H - 8}" font-size="11" text-anchor="middle">n ${h.n}, median ${h.median === null ? "–" : num(h.median)}</text></svg>`;
}

/** Inline PNG thumbnails of images, or of crops (the padded box, as the model saw it) when `crops` is given. */
async function thumbnails(inputDir: string, names: string[], crops?: { of: CropInfo[]; padding: number }, frames?: ReportInput["frames"]): Promise<Array<{ name: string; uri: string | null; caption?: string }>> {
  const out: Array<{ name: string; uri: string | null; caption?: string }> = [];
  for (const [k, name] of names.entries()) {
    const fr = frames?.get(name);
    if (fr) {
      out.push({ name, uri: fr.uri, caption: fr.caption });
      continue;
    }
    try {
      const c = crops?.of[k];
      let img = sharp(path.join(inputDir, c ? c.image : name), { failOn: "none" });
      if (c) {
        const m = await img.metadata();
        const b = paddedCropBox(c.bbox, crops!.padding, m.width ?? 0, m.height ?? 0);
        if (!b) throw new Error("box outside the image");
        img = sharp(await img.extract({ left: b[0], top: b[1], width: b[2] - b[0], height: b[3] - b[1] }).toBuffer());
      }
      const buf = await img.resize(96, 96, { fit: "inside" }).png().toBuffer();
      out.push({ name, uri: `data:image/png;base64,${buf.toString("base64")}` });
    } catch {
      out.push({ name, uri: null }); // e.g. BMP (sharp has no BMP loader): the name is still shown
    }
  }
  return out;
}

const table = (head: string[], rows: string[][]): string =>
  `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join("")}</tr>`).join("")}</tbody></table>`;

const blank = `<div style="width:96px;height:96px;background:#eee;margin:0 auto"></div>`;

/** Crop selection: the selected crops as thumbnails with their box, category and score, and the images that hold them. */
function objectsHtml(o: ObjectsReport, thumbs: Array<{ name: string; uri: string | null; caption?: string }>): string {
  const crops = o.selectedCrops ?? [];
  const cells = thumbs.map((th, k) => {
    const c = crops[k]!;
    // a crop of a video frame: where the frame is in its video (th.caption, "clip.mp4 @ 00:01.240")
    const cap = `${c.image}${th.caption ? ` (${th.caption})` : ""} [${c.bbox.map((v) => num(v)).join(", ")}] ${c.category}${c.score === null ? "" : ` ${num(c.score, 3)}`}`;
    return `<div class="thumb crop" data-crop="${esc(c.filename)}">${th.uri ? `<img src="${th.uri}" alt="${esc(c.filename)}">` : blank}${esc(cap)}</div>`;
  }).join("");
  return `<h2>Selected object crops of task ${esc(JSON.stringify(o.selectTask))} (${crops.length} of ${o.crops ?? 0}${thumbs.length < crops.length ? `, first ${thumbs.length} shown` : ""})</h2>
<p>Boxes are the predictions' [x, y, w, h]; thumbnails show the box with padding ${num(o.padding)} per side, as embedded. ${o.selectedImages.length} image(s) hold them (filenames/selected_filenames.txt): ${esc(o.selectedImages.slice(0, 20).join(", "))}${o.selectedImages.length > 20 ? ", …" : ""}</p>
<div class="grid" id="selected-crops-grid">${cells}</div>`;
}

/** Prediction problems per task: files skipped whole, predictions skipped, crops that could not be cut. */
function predictionIssuesHtml(o: ObjectsReport): string {
  const rows: string[][] = [];
  for (const t of o.issues) {
    for (const i of t.issues) rows.push([t.task, i.file, i.prediction === undefined ? "(file)" : String(i.prediction), i.code, i.message]);
    for (const c of t.skippedCrops) rows.push([t.task, c.crop, "(crop)", c.code, c.reason]);
  }
  const summary = o.issues.map((t) => `${esc(t.task)}: ${t.predictionFiles} file(s) read, ${t.missing} image(s) without one`).join("; ");
  return `<h2>Prediction issues (${rows.length})</h2>
<p>Predictions from <code>${esc(o.predictionsDir)}</code>${o.trainTask ? `; model trained on the crops of task ${esc(JSON.stringify(o.trainTask))}` : ""}. ${summary}.</p>
<div id="prediction-issues">${rows.length ? table(["task", "file", "prediction", "code", "message"], rows) : "<p>None.</p>"}</div>`;
}

/** Computes the report's statistics and writes report.json and report.html into the run folder. */
export async function writeReport(r: ReportInput): Promise<RunReport> {
  const n = r.filenames.length;
  const sel = new Set(r.selectedIdx);
  const pool = new Set(r.datapoolIdx);
  const chosen = [...r.datapoolIdx, ...r.selectedIdx];
  const idx = capIndices(n, REPORT_MAX_POINTS, chosen);
  const sub = new Float32Array(idx.length * r.d);
  idx.forEach((i, k) => sub.set(r.values.subarray(i * r.d, (i + 1) * r.d), k * r.d));
  const xy = pca2(sub, idx.length, r.d);
  const before = nearestNeighbourDistances(r.values, r.d, idx);
  const after = nearestNeighbourDistances(r.values, r.d, chosen.slice(0, REPORT_MAX_POINTS));
  const hi = Math.max(1e-9, ...before, ...after);
  const hb = histogram(before, 20, 0, hi);
  const ha = histogram(after, 20, 0, hi);
  const o = r.objects ?? null;
  const thumbs = await thumbnails(r.input, r.selection.filenames.slice(0, REPORT_MAX_THUMBNAILS),
    o?.selectedCrops ? { of: o.selectedCrops.slice(0, REPORT_MAX_THUMBNAILS), padding: o.padding } : undefined, r.frames);

  const report: RunReport = {
    format: REPORT_FORMAT, runId: r.runId, state: "COMPLETED", input: r.input, output: r.output,
    startedAt: r.startedAt, endedAt: r.endedAt, durationMs: r.durationMs, stages: r.stages, config: r.config,
    counts: r.counts, training: r.training, embedding: r.embedding, selection: r.selection, objects: o,
    corrupt: r.corrupt, corruptVideos: r.corruptVideos ?? [], duplicates: r.duplicates,
    selectedFrames: [...(r.frames ?? new Map()).entries()].map(([filename, f]) => ({ filename, video: f.video, frame: f.frame, seconds: f.seconds })),
    nearestNeighbour: { before: hb, after: ha, sampled: idx.length },
    map: { method: "pca", points: idx.length, selected: idx.filter((i) => sel.has(i)).length },
    thumbnails: thumbs.filter((t) => t.uri).length, notes: r.notes,
  };

  const t = r.training;
  const stepsPerEpoch = t && t.epochs > 0 ? Math.max(1, Math.round(t.stepLosses.length / Math.max(1, t.epochLosses.length))) : 1;
  const c = r.counts;
  const html = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Winnow run ${esc(r.runId)}</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;font-size:13px}
.grid{display:flex;flex-wrap:wrap;gap:8px}.thumb{width:104px;text-align:center;font-size:11px;word-break:break-all}.thumb img{width:96px;height:96px;object-fit:contain;background:#eee;display:block;margin:0 auto}
.counts td:first-child{font-weight:600}pre{background:#f6f6f6;padding:8px;overflow:auto;font-size:12px}.legend span{display:inline-block;margin-right:14px}
.sw{display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:4px}</style></head>
<body>
<h1>Winnow run <code>${esc(r.runId)}</code> — COMPLETED</h1>
<p>Input <code>${esc(r.input)}</code> · output <code>${esc(r.output)}</code> · started ${esc(r.startedAt)} · ${(r.durationMs / 1000).toFixed(1)} s</p>
<h2>Counts</h2>
<table class="counts" id="counts"><tbody>
<tr><td>image files</td><td>${c.files}</td></tr><tr><td>usable images</td><td>${c.images}</td></tr>
<tr><td>corrupt</td><td>${c.corrupt}</td></tr><tr><td>exact duplicates</td><td>${c.duplicates}</td></tr>
<tr><td>embedded</td><td>${c.embedded}</td></tr><tr><td>selected (this run)</td><td id="selected-count">${c.selected}</td></tr>
<tr><td>datapool before / after</td><td>${c.datapoolBefore} / ${c.datapoolAfter}</td></tr></tbody></table>
<p>Embeddings: ${r.embedding.n} × ${r.embedding.d} from ${esc(r.embedding.source)}${r.embedding.checkpoint ? ` (<code>${esc(r.embedding.checkpoint)}</code>)` : ""}. Selection stopped by: ${esc(r.selection.stoppedBy)}.</p>
${r.embedding.startingWeights ? `<p id="starting-weights">Starting weights: ${esc(startingWeightsText(r.embedding.startingWeights))}</p>` : ""}
<h2>Training loss</h2>
${t ? `<p>${t.epochs} epoch(s) on ${esc(t.device)}, ${t.imagesPerSecond.toFixed(1)} img/s${t.startedFrom ? `, from ${esc(t.startedFrom)}` : ""}; checkpoint <code>${esc(t.checkpoint ?? "none")}</code></p>${lossSvg(t.stepLosses, t.epochLosses, stepsPerEpoch)}` : "<p>No training in this run.</p>"}
<h2>Embedding map (PCA)</h2>
<p class="legend"><span><i class="sw" style="background:#9aa9b8"></i>not selected</span><span><i class="sw" style="background:#d62728"></i>selected in this run</span><span><i class="sw" style="background:#ff7f0e"></i>datapool (earlier runs)</span>${idx.length < n ? ` ${idx.length} of ${n} points shown.` : ""}</p>
${mapSvg(xy, idx, sel, pool, r.filenames)}
<h2>Nearest-neighbour distance</h2>
<p>Distance from each sample to its nearest other sample: all samples (left), the selection incl. datapool (right), on the same distance axis, each scaled to its tallest bar. Diverse selections move this to the right.</p>
<div class="grid">${histSvg("nn-before", hb, "#9aa9b8", Math.max(1, ...hb.counts))}${histSvg("nn-after", ha, "#d62728", Math.max(1, ...ha.counts))}</div>
${o?.selectedCrops ? objectsHtml(o, thumbs) : `<h2>Selected images (${r.selection.filenames.length}${thumbs.length < r.selection.filenames.length ? `, first ${thumbs.length} shown` : ""})</h2>
<div class="grid" id="selected-grid">${thumbs.map((th) => `<div class="thumb"${th.caption ? ` data-frame="${esc(th.name)}"` : ""}>${th.uri ? `<img src="${th.uri}" alt="${esc(th.name)}">` : blank}${esc(th.caption ?? th.name)}</div>`).join("")}</div>`}
${o ? predictionIssuesHtml(o) : ""}
<h2>Corrupt files (${r.corrupt.length})</h2>
${r.corrupt.length ? table(["file", "code", "reason"], r.corrupt.map((x) => [x.filename, x.code, x.reason])) : "<p>None.</p>"}
${r.corruptVideos?.length ? `<h2>Corrupt videos (${r.corruptVideos.length})</h2>\n${table(["video", "reason"], r.corruptVideos.map((v) => [v.video, v.reason]))}` : ""}
<h2>Exact duplicates (${r.duplicates.length})</h2>
${r.duplicates.length ? table(["file", "same bytes as"], r.duplicates.map((x) => [x.filename, x.duplicateOf])) : "<p>None.</p>"}
<h2>Stage timings</h2>
${table(["state", "started", "seconds"], r.stages.map((s) => [s.state, s.startedAt, s.durationMs === null ? "" : (s.durationMs / 1000).toFixed(2)]))}
${r.notes.length ? `<h2>Notes</h2><ul>${r.notes.map((x) => `<li>${esc(x)}</li>`).join("")}</ul>` : ""}
<h2>Resolved config</h2>
<details><summary>worker_config, selection_config, lightly_config with every default filled in</summary><pre id="config">${esc(JSON.stringify(r.config, null, 2))}</pre></details>
</body></html>
`;
  const paths = runPaths(r.output);
  writeFileAtomic(paths.reportJson, jsonText(report), { mkdir: true });
  writeFileAtomic(paths.reportHtml, html, { mkdir: true });
  return report;
}

/** Reads a run folder's report.json. */
export function readReport(outputDir: string): RunReport {
  return JSON.parse(fs.readFileSync(runPaths(outputDir).reportJson, "utf8")) as RunReport;
}
