// The web UI in a real browser (Debian's chromium driven by playwright-core) against a real server
// and worker on loopback: one tiny end-to-end run, then sign-in, the runs overview, the run detail
// (loss chart, embedding map, thumbnails, checkpoint download and signed URL), scheduling from the
// form, datasets, tags (naming a selection, the dataset's names), and what a wrong or another token
// sees. Screenshots go to test-artifacts/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { openDb } from "../src/db/driver.js";
import { migrate } from "../src/db/migrations.js";
import { Store } from "../src/db/store.js";
import { ApiWorkflowClient, type RunData } from "../src/client/index.js";
import { tempDir } from "./helpers/data-images.js";
import { BUILD_MARK, buildWebUi } from "./helpers/web-ui.js";

let uiDist = "";
import { tinyFolder, TINY_LIGHTLY } from "./helpers/run-setup.js";

const SHOTS = path.resolve("test-artifacts");
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

let dir: string;
let url: string;
let tokenA: string;
let tokenB: string;
let server: ChildProcess;
let worker: ChildProcess;
let clientA: ApiWorkflowClient;
let clientB: ApiWorkflowClient;
let run: RunData;
let ctx: BrowserContext;

function proc(kind: "serve" | "worker", o: object): ChildProcess {
  const p = spawn(process.execPath, ["--import", "tsx", "test/helpers/service-proc.ts", kind, JSON.stringify(o)], { stdio: ["ignore", "pipe", "pipe"] });
  p.stderr!.on("data", (b) => process.stderr.write(`[${kind}] ${b}`));
  return p;
}

async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn().catch(() => null);
    if (v) return v as T;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

const shot = (page: Page, name: string): Promise<Buffer> => page.screenshot({ path: path.join(SHOTS, `ui-${name}.png`), fullPage: true });

async function signIn(page: Page, token: string): Promise<void> {
  await page.goto(`${url}/`);
  await page.fill("input[name=token]", token);
  await page.click("button[type=submit]");
}

before(async () => {
  // The UI is built from the current sources (what `npm run build:web` does in setup).
  uiDist = buildWebUi(); // its own folder: web/dist is shared with the other UI test files running at the same time
  fs.mkdirSync(SHOTS, { recursive: true });

  dir = tempDir("winnow-ui-");
  const { root } = await tinyFolder(16);
  fs.mkdirSync(path.join(dir, "root"));
  fs.renameSync(root, path.join(dir, "root", "imgs"));
  fs.writeFileSync(path.join(dir, "secret.png"), fs.readFileSync(path.join(dir, "root", "imgs", "zz-copy.png")));
  const db = await openDb(path.join(dir, "w.db"));
  await migrate(db);
  const store = new Store(db);
  tokenA = (await store.createToken("ui-a")).token;
  tokenB = (await store.createToken("ui-b")).token;
  await db.close();

  server = proc("serve", { database: path.join(dir, "w.db"), storage: path.join(dir, "art"), datasourceRoot: path.join(dir, "root"), port: 0, uiDist });
  url = await new Promise<string>((resolve, reject) => {
    server.stdout!.on("data", (b) => {
      const m = /listening (\S+)/.exec(String(b));
      if (m) resolve(m[1]!);
    });
    server.on("exit", (c) => reject(new Error(`server exited ${c}`)));
  });
  // The UI comes from this file's own build (uiDist), not the shared web/dist.
  assert.equal(await (await fetch(`${url}/ui/${BUILD_MARK}`)).text(), fs.readFileSync(path.join(uiDist, BUILD_MARK), "utf8"));
  worker = proc("worker", { server: url, token: tokenA, name: "w", labels: [], workDir: path.join(dir, "work"), datasourceRoot: path.join(dir, "root"), heartbeatMs: 500, pollWaitMs: 2000 });
  clientA = new ApiWorkflowClient({ url, token: tokenA });
  clientB = new ApiWorkflowClient({ url, token: tokenB });
  await clientA.createDataset("tiny", "imgs");
  const sid = await clientA.scheduleComputeWorkerRun({
    workerConfig: { enable_training: true, num_threads: 1, use_datapool: true },
    selectionConfig: { n_samples: 4 },
    lightlyConfig: { ...TINY_LIGHTLY, trainer: { ...TINY_LIGHTLY.trainer, max_epochs: 3 } },
  });
  await waitFor("the run to end", async () => (await clientA.getComputeWorkerRunInfo(sid)).inEndState(), 90_000);
  run = await clientA.getComputeWorkerRunFromScheduledRun(sid);
  assert.equal(run.state, "COMPLETED", run.message);

  ctx = await chromium.launchPersistentContext(tempDir("winnow-ui-chromium-"), {
    executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS, headless: true, acceptDownloads: true, viewport: { width: 1280, height: 900 },
  });
  await ctx.grantPermissions(["clipboard-read", "clipboard-write"], { origin: url });
});

after(async () => {
  await ctx?.close();
  worker?.kill("SIGKILL");
  server?.kill("SIGKILL");
  if (uiDist) fs.rmSync(uiDist, { recursive: true, force: true });
});

/** Pixels of a canvas that differ from blank (transparent or white), counted in the page. */
async function inkedPixels(page: Page, selector: string): Promise<{ inked: number; total: number; dataUrl: number; blankUrl: number }> {
  return page.$eval(selector, (el) => {
    const c = el as HTMLCanvasElement;
    const d = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
    let inked = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i + 3]! > 0 && !(d[i]! > 250 && d[i + 1]! > 250 && d[i + 2]! > 250)) inked++;
    const blank = document.createElement("canvas");
    blank.width = c.width;
    blank.height = c.height;
    return { inked, total: d.length / 4, dataUrl: c.toDataURL().length, blankUrl: blank.toDataURL().length };
  });
}

test("a wrong token sees nothing", async () => {
  const page = await ctx.newPage();
  await signIn(page, "wnw_not-a-real-token");
  const alert = await page.waitForSelector("[role=alert]");
  assert.match(await alert.innerText(), /not recognised/);
  assert.equal(await page.$("[data-testid=runs-table]"), null);
  // Put straight into the session, the page still shows no data: the API answers 401 and the app
  // drops the token.
  await page.evaluate(() => sessionStorage.setItem("winnow.token", "wnw_not-a-real-token"));
  await page.goto(`${url}/ui/runs/${run.id}`);
  await page.waitForSelector("input[name=token]");
  const body = await page.innerText("body");
  assert.ok(!body.includes(run.id), "no run id on the page");
  assert.equal(await page.evaluate(() => sessionStorage.getItem("winnow.token")), null);
  await shot(page, "wrong-token");
  await page.close();
});

test("sign in, the runs overview shows the completed run, its id copies", async () => {
  const page = await ctx.newPage();
  await signIn(page, tokenA);
  const row = await page.waitForSelector(`tr[data-run-id="${run.id}"]`);
  assert.match(await row.innerText(), /tiny[\s\S]*COMPLETED[\s\S]*yes[\s\S]*available/);
  assert.equal(await page.evaluate(() => sessionStorage.getItem("winnow.token")), tokenA);
  assert.equal(await page.evaluate(() => localStorage.length), 0, "nothing in localStorage");
  // State filter: FAILED hides the run, COMPLETED shows it.
  await page.selectOption("select[name=state]", "FAILED");
  await page.waitForSelector(`tr[data-run-id="${run.id}"]`, { state: "detached" });
  await page.selectOption("select[name=state]", "COMPLETED");
  await page.waitForSelector(`tr[data-run-id="${run.id}"]`);
  await shot(page, "runs");
  await page.click(`tr[data-run-id="${run.id}"] [data-testid=copy-run-id]`);
  await page.waitForSelector(`tr[data-run-id="${run.id}"] [data-copied="${run.id}"]`);
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), run.id);
  await page.close();
});

test("run detail: loss chart and embedding map draw, thumbnails load, hover shows the image, checkpoint downloads", async () => {
  const page = await ctx.newPage();
  await signIn(page, tokenA);
  await page.click(`tr[data-run-id="${run.id}"] [data-testid=run-link]`);
  await page.waitForSelector("[data-testid=run-detail]");
  assert.equal(new URL(page.url()).pathname, `/ui/runs/${run.id}`);

  // Loss: uPlot's canvas with a line on it.
  await page.waitForSelector("[data-testid=loss-chart] canvas");
  const loss = await inkedPixels(page, "[data-testid=loss-chart] canvas");
  assert.ok(loss.inked > 200, `loss chart inked pixels: ${loss.inked}`);
  assert.ok(loss.dataUrl > loss.blankUrl + 1000, `loss chart PNG ${loss.dataUrl} vs blank ${loss.blankUrl}`);

  // Map: 16 points, 4 selected (orange, drawn on top).
  await page.waitForSelector("[data-testid=embedding-map]");
  const map = await inkedPixels(page, "[data-testid=embedding-map]");
  assert.ok(map.inked > 16 * 9, `map inked pixels: ${map.inked}`);
  // 16 flat squares on white compress to little: the inked count above is the real check.
  assert.ok(map.dataUrl > map.blankUrl + 100, `map PNG ${map.dataUrl} vs blank ${map.blankUrl}`);

  // Thumbnails of the 4 selected images, decoded by the browser.
  await page.waitForFunction(() => {
    const imgs = [...document.querySelectorAll<HTMLImageElement>("[data-testid=selected-grid] img")];
    return imgs.length === 4 && imgs.every((i) => i.complete && i.naturalWidth > 0);
  }, undefined, { timeout: 15_000 });

  // Hover an orange (selected) point: the tooltip shows its image.
  const orange = await page.$eval("[data-testid=embedding-map]", (el) => {
    const c = el as HTMLCanvasElement;
    const d = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
    const k = c.width / c.getBoundingClientRect().width;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i]! === 255 && d[i + 1]! === 127 && d[i + 2]! === 14) {
        const p = i / 4;
        return { x: (p % c.width) / k + 1, y: Math.floor(p / c.width) / k + 1 };
      }
    }
    return null;
  });
  assert.ok(orange, "an orange (selected) point on the map");
  await page.$eval("[data-testid=embedding-map]", (el) => el.scrollIntoView({ block: "center" }));
  const box = (await (await page.$("[data-testid=embedding-map]"))!.boundingBox())!;
  await page.mouse.move(box.x + orange.x, box.y + orange.y);
  await page.waitForFunction(() => {
    const i = document.querySelector<HTMLImageElement>("[data-testid=map-tip] img");
    return !!i && i.complete && i.naturalWidth > 0;
  }, undefined, { timeout: 10_000 });
  assert.match(await page.innerText("[data-testid=map-tip]"), /selected/);
  await shot(page, "run-detail");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow} px wider than the window`);

  // Timeline, config, log, snippet.
  assert.match(await page.innerText("[data-testid=timeline]"), /TRAINING[\s\S]*EMBEDDING[\s\S]*COMPLETED/);
  assert.match(await page.innerText("[data-testid=config]"), /max_epochs: 3/);
  assert.match(await page.innerText("[data-testid=log]"), /epoch 3\/3 done: loss/);
  assert.ok((await page.innerText("[data-testid=snippet-py]")).includes(`"checkpoint_run_id": "${run.id}"`));

  // The checkpoint downloads through a signed URL: a PyTorch zip of the artifact's size.
  const ck = run.artifacts.find((a) => a.type === "CHECKPOINT")!;
  const [dl] = await Promise.all([page.waitForEvent("download"), page.click("[data-testid=download-CHECKPOINT]")]);
  const bytes = fs.readFileSync((await dl.path())!);
  assert.equal(bytes.length, ck.size);
  assert.deepEqual([...bytes.subarray(0, 4)], [0x50, 0x4b, 0x03, 0x04], "zip magic PK\\3\\4");
  assert.equal(dl.suggestedFilename(), "checkpoint.ckpt");

  // "Copy checkpoint URL": a signed URL that downloads the same bytes without a token.
  await page.click("[data-testid=copy-checkpoint-url]");
  await page.waitForSelector("[data-testid=copy-checkpoint-url][data-copied]");
  const signed = await page.evaluate(() => navigator.clipboard.readText());
  assert.match(signed, /\/v1\/signed\/artifacts\/[0-9a-f]+\?expires=\d+&signature=/);
  assert.deepEqual(Buffer.from(await (await fetch(signed)).arrayBuffer()), bytes);
  await page.close();
});

test("the embedding map draws 30 000 points and hover still finds them", async () => {
  const page = await ctx.newPage();
  const n = 30_000;
  const xy: number[] = [];
  for (let i = 0; i < n; i++) {
    const a = (i * 2.399963) % (2 * Math.PI), r = Math.sqrt(i / n);
    xy.push(Number((r * Math.cos(a)).toPrecision(4)), Number((r * Math.sin(a)).toPrecision(4)));
  }
  const selected = Array.from({ length: 300 }, (_, k) => k * 100);
  const body = JSON.stringify({ method: "pca", n, d: 64, explained: [0.5, 0.5], filenames: Array.from({ length: n }, (_, i) => (i % 2 ? "zz-copy.png" : `f${i}.png`)), xy, selected, datapool: [] });
  // The API's answer replaced by a large synthetic map: the page's drawing is what is measured.
  await page.route(`**/v1/runs/${run.id}/embedding-map`, (r) => r.fulfill({ status: 200, contentType: "application/json", body }));
  await signIn(page, tokenA);
  await page.waitForSelector("[data-testid=runs-table]");
  const t0 = Date.now();
  await page.goto(`${url}/ui/runs/${run.id}`);
  await page.waitForSelector("[data-testid=embedding-map]");
  await page.waitForFunction(() => document.querySelector(".legend")?.textContent?.includes("all 30000"));
  const drawn = Date.now() - t0;
  const map = await inkedPixels(page, "[data-testid=embedding-map]");
  // Equal axis scales: the unit disc is a circle of the box's height less the padding (dpr 1 here).
  const disc = (Math.PI / 4) * (420 - 24) ** 2;
  // 30 000 squares of 2×2 px cover well over a third of the disc, and nothing outside it.
  assert.ok(map.inked > 0.4 * disc && map.inked < 1.05 * disc, `inked ${map.inked} of ${map.total} pixels (disc ${disc.toFixed(0)})`);
  await page.$eval("[data-testid=embedding-map]", (el) => el.scrollIntoView({ block: "center" }));
  const box = (await (await page.$("[data-testid=embedding-map]"))!.boundingBox())!;
  const t1 = Date.now();
  for (let k = 0; k < 20; k++) await page.mouse.move(box.x + box.width / 2 + k * 7, box.y + box.height / 2 + k * 3);
  await page.waitForSelector("[data-testid=map-tip]");
  const hover = (Date.now() - t1) / 20;
  // Even rows name missing files, odd rows a real image: from one to the next the tooltip goes from
  // the error to the image. Screen positions as the component lays them out (12 px padding, equal scales).
  const xs = xy.filter((_, k) => k % 2 === 0), ys = xy.filter((_, k) => k % 2 === 1);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  // One scale for both axes, the data centred in the box.
  const sc = Math.min((box.width - 24) / (x1 - x0), (box.height - 24) / (y1 - y0));
  const [ox, oy] = [(box.width - (x1 - x0) * sc) / 2, (box.height - (y1 - y0) * sc) / 2];
  const at = (i: number) => ({ x: box.x + ox + (xy[2 * i]! - x0) * sc, y: box.y + box.height - oy - (xy[2 * i + 1]! - y0) * sc });
  await page.mouse.move(at(20_000).x, at(20_000).y);
  await page.waitForFunction(() => document.querySelector("[data-testid=map-tip] .mono")?.textContent === "f20000.png");
  await page.waitForSelector("[data-testid=map-tip] .thumb.missing");
  await page.mouse.move(at(20_001).x, at(20_001).y);
  await page.waitForFunction(() => document.querySelector("[data-testid=map-tip] .mono")?.textContent === "zz-copy.png");
  await page.waitForFunction(() => (document.querySelector<HTMLImageElement>("[data-testid=map-tip] img")?.naturalWidth ?? 0) > 0, undefined, { timeout: 5000 });
  await shot(page, "map-30k");
  console.log(`map of ${n} points: page to drawn ${drawn} ms, ${hover.toFixed(1)} ms per mouse move`);
  assert.ok(drawn < 10_000, `drawn in ${drawn} ms`);
  await page.close();
});

test("thumbnails never leave the datasource; another owner gets 404 from the UI routes; the same views through ApiWorkflowClient", async () => {
  const get = (p: string, token = tokenA) => fetch(`${url}${p}`, { headers: { authorization: `Bearer ${token}` } });
  const ok = await get(`/v1/runs/${run.id}/thumbnail?file=zz-copy.png&size=64`);
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get("content-type"), "image/webp");
  for (const bad of ["../secret.png", "/etc/passwd", "..%2Fsecret.png", "imgs/../../secret.png", "log.txt"]) {
    const r = await get(`/v1/runs/${run.id}/thumbnail?file=${encodeURIComponent(bad)}`);
    assert.equal(r.status, 404, `${bad}: ${r.status}`);
  }
  // A symlink inside the datasource that points out of it is refused too.
  fs.symlinkSync(path.join(dir, "secret.png"), path.join(dir, "root", "imgs", "link.png"));
  assert.equal((await get(`/v1/runs/${run.id}/thumbnail?file=link.png`)).status, 404);
  for (const p of [`/v1/runs/${run.id}/thumbnail?file=zz-copy.png`, `/v1/runs/${run.id}/embedding-map`, `/v1/runs/${run.id}/loss`, `/v1/runs/${run.id}/timeline`, `/v1/runs/${run.id}/config`]) {
    assert.equal((await get(p, tokenB)).status, 404, p);
    assert.equal((await fetch(`${url}${p}`)).status, 401, p);
  }
  // The same views through the client.
  const map = await clientA.getComputeWorkerRunEmbeddingMap(run);
  assert.equal(map.xy.length, 2 * map.n);
  assert.equal(map.n, 16, "16 usable images (one corrupt, one duplicate dropped)");
  assert.equal(map.selected.length, 4);
  assert.deepEqual(map.datapool, [], "the datapool is this run's own selection");
  assert.ok(map.xy.some((v) => v !== 0));
  const loss = await clientA.getComputeWorkerRunLoss(run);
  assert.equal(loss.source, "report");
  assert.equal(loss.epoch_losses.length, 3);
  assert.equal(loss.step_losses.length, 3 * 2, "16 images, batch 8: 2 steps per epoch");
  const tl = await clientA.getComputeWorkerRunTimeline(run);
  assert.deepEqual(tl.stages.map((x) => x.state).slice(-2), ["GENERATING_REPORT", "COMPLETED"]);
  assert.ok(tl.stages.some((x) => x.state === "TRAINING"));
  const conf = await clientA.getComputeWorkerRunConfig(run);
  assert.equal((conf.resolved as { lightly_config: { trainer: { max_epochs: number } } }).lightly_config.trainer.max_epochs, 3);
  const sums = await clientA.getComputeWorkerRunSummaries({ state: "COMPLETED" });
  assert.equal(sums.total, 1);
  assert.equal(sums.items[0]!.training, true);
  assert.equal(sums.items[0]!.checkpoint, true);
  assert.equal((await clientA.getComputeWorkerRunSummaries({ state: "FAILED" })).total, 0);
  assert.equal((await clientA.getDatapoolSize(run.dataset_id)).size, 4);
  const v = await clientA.validateComputeWorkerConfig({ lightlyConfig: { trainer: { max_epoch: 2 } }, selectionConfig: { n_samples: 2 } });
  assert.equal(v.valid, false);
  assert.deepEqual(v.issues.map((i) => i.path), ["lightly_config.trainer.max_epoch"]);
  assert.ok((await clientA.validateComputeWorkerConfig({ selectionConfig: { n_samples: 2 } })).valid);
  const thumb = path.join(dir, "thumb.webp");
  assert.ok((await clientA.downloadComputeWorkerRunThumbnail(run, map.filenames[0]!, thumb, { size: 32 })) > 0);
  assert.equal(fs.readFileSync(thumb).subarray(8, 12).toString("latin1"), "WEBP");
  // The static UI is public, the API behind it is not.
  assert.equal((await fetch(`${url}/ui/runs/anything`)).status, 200);
  assert.equal((await fetch(`${url}/ui/assets/missing.js`)).status, 404);
  assert.equal((await fetch(`${url}/ui/..%2F..%2Fpackage.json`)).headers.get("content-type"), "text/html; charset=utf-8");
});

test("scheduling from the form: live validation, then a scheduled run with priority and labels", async () => {
  const page = await ctx.newPage();
  await signIn(page, tokenA);
  await page.waitForSelector("[data-testid=runs-table]");
  await page.click("nav >> text=Schedule a run");
  await page.waitForSelector("[data-testid=config-check][data-valid=true]");
  // A typo is caught live, with the field and a hint, and scheduling is disabled.
  await page.fill("textarea[name=config]", "worker_config:\n  enable_training: false\nlightly_config:\n  trainer:\n    max_epoch: 2\n");
  await page.waitForSelector("[data-testid=config-check][data-valid=false]");
  assert.match(await page.innerText("[data-testid=config-check]"), /lightly_config\.trainer\.max_epoch/);
  assert.ok(await page.isDisabled("form.schedule button[type=submit]"));
  await shot(page, "schedule-invalid");
  await page.fill("textarea[name=config]", "worker_config:\n  enable_training: false\nselection_config:\n  n_samples: 2\nlightly_config:\n  trainer:\n    max_epochs: 2\n");
  await page.waitForSelector("[data-testid=config-check][data-valid=true]");
  await page.selectOption("select[name=priority]", "HIGH");
  await page.fill("input[name=runs_on]", "ui-test, gpu");
  await page.click("form.schedule button[type=submit]");
  const res = await page.waitForSelector("[data-testid=schedule-result][data-scheduled-id]");
  const sid = (await res.getAttribute("data-scheduled-id"))!;
  const s = (await clientA.getScheduledComputeWorkerRuns()).find((x) => x.id === sid);
  assert.ok(s, "the scheduled run exists for the client");
  assert.equal(s.priority, "HIGH");
  assert.deepEqual(s.runs_on, ["ui-test", "gpu"]);
  assert.equal(s.state, "OPEN", "no worker has both labels");
  const cfg = (await (await fetch(`${url}/v1/configs/${s.config_id}`, { headers: { authorization: `Bearer ${tokenA}` } })).json()) as { selection_config: unknown; lightly_config: unknown };
  assert.deepEqual(cfg.selection_config, { n_samples: 2 });
  assert.deepEqual(cfg.lightly_config, { trainer: { max_epochs: 2 } });
  await page.waitForSelector(`[data-testid=queue] tr[data-scheduled-id="${sid}"]`);
  await shot(page, "schedule");
  await clientA.cancelScheduledComputeWorkerRun(sid);
  await page.close();
});

test("datasets: list with run count, create through the form", async () => {
  const page = await ctx.newPage();
  await signIn(page, tokenA);
  await page.waitForSelector("[data-testid=runs-table]");
  await page.click("nav >> text=Datasets");
  const row = await page.waitForSelector("tr[data-dataset=tiny]");
  // Columns: name, datasource, created, runs, datapool size.
  await page.waitForFunction(() => document.querySelectorAll("tr[data-dataset=tiny] td")[3]?.textContent === "1");
  await page.waitForFunction(() => document.querySelectorAll("tr[data-dataset=tiny] td")[4]?.textContent === "4", undefined, { timeout: 5000 });
  assert.match(await row.innerText(), /imgs/);
  await page.fill("input[name=name]", "second");
  await page.fill("input[name=datasource]", "../outside");
  await page.click("form.inline button[type=submit]");
  assert.match(await (await page.waitForSelector("p.error")).innerText(), /datasource/);
  await page.fill("input[name=datasource]", "imgs");
  await page.click("form.inline button[type=submit]");
  await page.waitForSelector("tr[data-dataset=second]");
  assert.ok((await clientA.getDatasets()).some((d) => d.name === "second" && d.datasource === "imgs"));
  await shot(page, "datasets");
  await page.close();
});

test("tags: the run page lists the run's own tag with its files; a name added through the form (keyboard only) appears; a bad or taken name shows the server's message inline; the dataset page links the name to its run", async () => {
  const page = await ctx.newPage();
  await signIn(page, tokenA);
  await page.waitForSelector("[data-testid=runs-table]");
  await page.goto(`${url}/ui/runs/${run.id}`);
  await page.waitForFunction((id) => document.querySelector(`[data-testid=run-tags] tr[data-tag="${id}"] td.num`)?.textContent === "4", run.id);
  // The field is found by its label and used from the keyboard: type, Enter.
  await page.getByLabel("Name this selection").focus();
  await page.keyboard.type("bad/name");
  await page.keyboard.press("Enter");
  const bad = await page.waitForSelector("[data-testid=tag-msg].error");
  assert.match(await bad.innerText(), /"bad\/name" is not a tag name; allowed: 3-128 letters/);
  assert.equal(await page.getAttribute("input[name=tag]", "aria-invalid"), "true");
  await page.fill("input[name=tag]", "first picks");
  await page.keyboard.press("Enter");
  await page.waitForSelector(`[data-testid=run-tags] tr[data-tag="first picks"]`);
  assert.match(await page.innerText("[data-testid=tag-msg]"), /tagged as first picks/);
  assert.equal(await page.inputValue("input[name=tag]"), "");
  assert.match(await page.innerText(`[data-testid=run-tags] tr[data-tag="first picks"]`), /first picks\s+given name[\s\S]*4$/);
  await page.fill("input[name=tag]", "first picks");
  await page.keyboard.press("Enter");
  assert.match(await (await page.waitForSelector("[data-testid=tag-msg].error")).innerText(), /has a tag named "first picks" already/);
  assert.deepEqual((await clientA.getComputeWorkerRunTags(run.id)).map((t) => t.name), [run.id, "first picks"]);
  await shot(page, "run-tags");
  // The dataset page lists the name with a link to the run that made it.
  await page.click(`.facts a[href="/ui/datasets/${run.dataset_id}"]`);
  const row = await page.waitForSelector(`[data-testid=dataset-tags] tr[data-tag="first picks"]`);
  await page.waitForFunction(() => document.querySelector(`[data-testid=dataset-tags] tr[data-tag="first picks"] td.num`)?.textContent === "4");
  assert.match(await row.innerText(), new RegExp(`first picks\\s+${run.id}`));
  await shot(page, "dataset-tags");
  await page.click(`[data-testid=dataset-tags] tr[data-tag="first picks"] a`);
  await page.waitForSelector("[data-testid=run-detail]");
  assert.equal(new URL(page.url()).pathname, `/ui/runs/${run.id}`);
  await page.close();
});

test("another token: no runs listed, and the first token's run id in the URL gives a not-found page", async () => {
  const page = await ctx.newPage();
  await signIn(page, tokenB);
  await page.waitForSelector("[data-testid=runs-table]");
  assert.match(await page.innerText("[data-testid=runs-table]"), /No runs yet/);
  assert.ok(!(await page.innerText("body")).includes(run.id));
  await page.goto(`${url}/ui/runs/${run.id}`);
  await page.waitForSelector("[data-testid=not-found]");
  assert.match(await page.innerText("[data-testid=not-found]"), /Not found/);
  assert.equal(await page.$("[data-testid=run-detail]"), null);
  // Nor its tags: not on the page, and 404 from the API and the client.
  assert.equal(await page.$("[data-testid=run-tags]"), null);
  assert.ok(!(await page.innerText("body")).includes("first picks"));
  assert.equal((await fetch(`${url}/v1/runs/${run.id}/tags`, { headers: { authorization: `Bearer ${tokenB}` } })).status, 404);
  await assert.rejects(clientB.getComputeWorkerRunTags(run.id), /not found/);
  await shot(page, "not-found");
  assert.equal((await clientB.getComputeWorkerRuns()).length, 0);
  await page.close();
});
