// The report of a real run opened in a real browser: Debian's chromium (/usr/bin/chromium, installed by
// scripts/setup.sh) driven by playwright-core, no browser download. Asserts on the rendered DOM that
// the plots are drawn, the thumbnails decode, the counts are shown, and that the page is
// self-contained (no request leaves the file, no script errors); keeps a full-page screenshot in
// test-artifacts/ for a person to look at.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { pathToFileURL, fileURLToPath } from "node:url";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { run, type RunResult } from "../src/run/index.js";
import { tempDir } from "./helpers/data-images.js";
import { privateHome, tinyConfig } from "./helpers/run-setup.js";

const CHROMIUM = "/usr/bin/chromium";
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SAMPLES = path.join(REPO, "samples", "shapes"); // 160 images, 1 exact duplicate, 2 corrupt files
const ARTIFACTS = path.join(REPO, "test-artifacts");

let result: RunResult;
let ctx: BrowserContext;
let page: Page;
const pageErrors: string[] = [];
const outsideRequests: string[] = [];

before(async () => {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (scripts/setup.sh does)`);
  privateHome();
  result = await run({
    input: SAMPLES,
    config: tinyConfig({ selection_config: { n_samples: 12 }, lightly_config: { loader: { batch_size: 32 }, trainer: { gpus: 0, max_epochs: 2 } }, worker_config: { enable_training: true } }),
    output: path.join(tempDir("winnow-report-browser-"), "run"),
    stream: null,
  });
  ctx = await chromium.launchPersistentContext(tempDir("winnow-chromium-profile-"), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  page = ctx.pages()[0] ?? (await ctx.newPage());
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") pageErrors.push(m.text()); });
  page.on("request", (r) => { if (!/^(data|file):/.test(r.url())) outsideRequests.push(r.url()); });
  await page.goto(pathToFileURL(result.paths.reportHtml).href, { waitUntil: "load" });
});

after(async () => {
  await ctx?.close();
});

test("the report renders its plots, thumbnails and counts in Chromium, self-contained", async () => {
  const { report } = result;
  assert.equal(await page.title(), `Winnow run ${result.record.id}`);

  // Training loss: one polyline vertex per step, one dot per epoch, laid out with a real extent.
  const loss = await page.$eval("#loss-curve", (svg) => {
    const line = svg.querySelector("polyline.loss-line") as SVGPolylineElement;
    const box = line.getBBox();
    return { vertices: line.points.numberOfItems, epochDots: svg.querySelectorAll("circle.epoch-point").length, w: box.width, h: box.height };
  });
  assert.ok(report.training);
  assert.equal(loss.vertices, report.training.stepLosses.length);
  assert.ok(loss.vertices >= 2, `${loss.vertices} loss points`);
  assert.equal(loss.epochDots, 2);
  assert.ok(loss.w > 300 && loss.h > 0, `loss line box ${loss.w}×${loss.h}`);

  // Embedding map: every usable image is a point inside the plot, the selection highlighted.
  const map = await page.$eval("#embedding-map", (svg) => {
    const r = svg.getBoundingClientRect();
    const pts = [...svg.querySelectorAll("circle.pt")].map((c) => c.getBoundingClientRect());
    const inside = pts.filter((p) => p.width > 0 && p.left >= r.left - 1 && p.right <= r.right + 1 && p.top >= r.top - 1 && p.bottom <= r.bottom + 1).length;
    const xs = pts.map((p) => p.left);
    const ys = pts.map((p) => p.top);
    return { points: pts.length, inside, selected: svg.querySelectorAll("circle.pt.selected").length, spreadX: Math.max(...xs) - Math.min(...xs), spreadY: Math.max(...ys) - Math.min(...ys) };
  });
  assert.equal(map.points, report.counts.embedded);
  assert.equal(map.points, 160); // 163 files − 1 exact duplicate − 2 corrupt
  assert.equal(map.inside, map.points);
  assert.equal(map.selected, 12);
  assert.ok(map.spreadX > 200 && map.spreadY > 200, `points spread ${map.spreadX}×${map.spreadY} px`);

  // Nearest-neighbour histograms: 20 bars each; the drawn bar heights follow the counts, each
  // histogram scaled to its own tallest bar (the selection has far fewer samples than the input).
  const tallest: number[] = [];
  for (const [id, h] of [["#nn-before", report.nearestNeighbour.before], ["#nn-after", report.nearestNeighbour.after]] as const) {
    const heights = await page.$$eval(`${id} rect.bar`, (bars) => bars.map((b) => b.getBoundingClientRect().height));
    assert.equal(heights.length, 20, id);
    assert.equal(h.counts.reduce((a, b) => a + b, 0), id === "#nn-before" ? 160 : 12);
    heights.forEach((px, k) => assert.equal(px > 0.5, h.counts[k]! > 0, `${id} bar ${k}: ${px} px for count ${h.counts[k]}`));
    const top = h.counts.indexOf(Math.max(...h.counts));
    assert.equal(Math.max(...heights), heights[top]);
    tallest.push(heights[top]!);
  }
  assert.ok(Math.abs(tallest[0]! - tallest[1]!) < 0.5 && tallest[0]! > 100, `tallest bars ${tallest}`);

  // Thumbnails of the selected images: all decoded by the browser, captioned with their filenames.
  const thumbs = await page.$$eval("#selected-grid .thumb", (els) => els.map((el) => {
    const img = el.querySelector("img") as HTMLImageElement | null;
    return { ok: !!img && img.complete && img.naturalWidth > 0, w: img?.naturalWidth ?? 0, caption: el.textContent ?? "", alt: img?.alt ?? "" };
  }));
  assert.equal(thumbs.length, 12);
  const selected = fs.readFileSync(result.paths.selectedFilenames, "utf8").split("\n").filter(Boolean);
  assert.deepEqual(thumbs.map((t) => t.alt), selected);
  for (const t of thumbs) {
    assert.ok(t.ok, `thumbnail ${t.alt} not decoded`);
    assert.equal(t.w, 96); // thumbnails are 96 px (the 48 px samples scaled up by the report)
    assert.equal(t.caption, t.alt);
  }

  // Counts and lists as the reader sees them.
  const counts = Object.fromEntries(await page.$$eval("#counts tr", (rows) => rows.map((r) => { const c = (r as HTMLTableRowElement).cells; return [c[0]!.textContent, c[1]!.textContent]; })));
  assert.equal(counts["image files"], "163");
  assert.equal(counts["corrupt"], "2");
  assert.equal(counts["exact duplicates"], "1");
  assert.equal(counts["selected (this run)"], "12");
  const body = await page.textContent("body");
  assert.match(body!, /Corrupt files \(2\)/);
  assert.match(body!, /broken-truncated\.png/);
  assert.match(body!, /zz-duplicate-of-circle-000\.png/);
  // The resolved config is there, folded away by default.
  assert.equal(await page.$eval("#config", (el) => (el.parentElement as HTMLDetailsElement).open), false);
  assert.match((await page.textContent("#config"))!, /"n_samples": 12/);

  assert.deepEqual(pageErrors, []);
  assert.deepEqual(outsideRequests, []);

  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const shot = path.join(ARTIFACTS, "run-report.png");
  await page.screenshot({ path: shot, fullPage: true });
  assert.ok(fs.statSync(shot).size > 10_000);
  console.log(`screenshot: ${shot}`);
});
