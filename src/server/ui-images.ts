// The run detail page's images: the 2-D embedding map (computed in a worker thread, cached by
// artifact versions, bounded in size and wait) and thumbnails of the dataset's images (read inside
// the datasource, bounded in number, size and time, re-encoded by sharp).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pipeline } from "node:stream/promises";
import type { FastifyRequest } from "fastify";
import sharp from "sharp";
import type { ArtifactData, RunData } from "../db/records.js";
import { resolveInside, checkRealInside, PathRefused, IMAGE_EXTENSIONS, extensionOf } from "../data/folder.js";
import { HttpError } from "./http-error.js";
import { idParams } from "./schemas.js";
import { LruCache } from "./ui-embedding-map.js";
import { EmbeddingMapPool } from "./embedding-map-pool.js";
import { Limiter, withBudget } from "./bounded-work.js";
import { readRegularFile } from "./regular-file.js";
import { TEXT_LIMIT } from "./ui-text.js";
import type { Query, UiPlugin } from "./ui-context.js";
import type { UiApiOptions } from "./ui-api.js";

type Bounds = Pick<UiApiOptions, "datasourceRoot" | "embeddingMap" | "thumbnails">;

export const uiEmbeddingMapRoutes: UiPlugin<Bounds> = async (app, o) => {
  const { ui } = o;
  const maps = new LruCache<Buffer>();
  const mapPool = new EmbeddingMapPool(o.embeddingMap);
  app.addHook("onClose", () => mapPool.close());
  const mapMaxBytes = o.embeddingMap?.maxBytes ?? TEXT_LIMIT;
  const mapBudgetMs = o.embeddingMap?.requestBudgetMs ?? 30_000;

  /** The map's artifacts copied to a private folder, computed by the thread pool, as JSON bytes. */
  async function computeMap(req: FastifyRequest, r: RunData, arts: (ArtifactData | undefined)[]): Promise<Buffer> {
    const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), "winnow-map-"));
    try {
      const files = await Promise.all(arts.map(async (a, i) => {
        if (!a) return null;
        const s = await ui.store.getArtifactByName(ui.owner(req), r.id, a.file_name);
        if (!s) throw new HttpError(404, `artifact ${a.file_name} not found`);
        const f = path.join(dir, String(i));
        await pipeline(await ui.storage.get(s.storageKey), fs.createWriteStream(f));
        return f;
      }));
      return await mapPool.compute({ csv: files[0]!, selected: files[1]!, datapool: files[2]!, what: `run ${r.id} ${arts[0]!.file_name}` });
    } finally {
      await fs.promises.rm(dir, { recursive: true, force: true });
    }
  }

  // Computed in a worker thread (embedding-map-pool.ts), cached by artifact versions; concurrent
  // requests for one version share one computation, and a request that outlives its budget gets
  // 503 while the computation goes on to fill the cache.
  app.get("/v1/runs/:id/embedding-map", { schema: { params: idParams } }, async (req, reply) => {
    const r = await ui.run(req);
    const emb = r.artifacts.find((a) => a.type === "EMBEDDINGS");
    if (!emb) throw new HttpError(404, `run ${r.id} (${r.state}) has no EMBEDDINGS artifact yet`);
    const sel = r.artifacts.find((a) => a.type === "SELECTED_FILENAMES");
    const pool = r.artifacts.find((a) => a.type === "DATAPOOL_FILENAMES");
    for (const a of [emb, sel, pool]) {
      if (a && a.size > mapMaxBytes) throw new HttpError(413, `artifact ${a.file_name} (${a.type}) is ${a.size} bytes; the embedding map reads at most ${mapMaxBytes}`);
    }
    const key = [emb, sel, pool].map((a) => (a ? `${a.id}:${a.sha256}` : "-")).join("|");
    const json = await withBudget(maps.get(key, () => computeMap(req, r, [emb, sel, pool])), mapBudgetMs, `the embedding map of run ${r.id}`);
    return reply.type("application/json; charset=utf-8").send(json);
  });
};

export const uiThumbnailRoutes: UiPlugin<Bounds> = async (app, o) => {
  const { ui } = o;
  const thumbs = new Limiter(o.thumbnails?.concurrency ?? 4, o.thumbnails?.maxWaiting ?? 64, "thumbnails");
  const thumbMaxBytes = o.thumbnails?.maxBytes ?? 64 << 20;
  const thumbBudgetMs = o.thumbnails?.budgetMs ?? 10_000;

  // A thumbnail of one image of the run's dataset: the name is resolved inside the datasource with
  // the same checks as the data loader (no absolute paths, "..", or symlinks), only image
  // extensions are read, only regular files are opened (regular-file.ts: a FIFO or device never
  // blocks a thread), and what goes out is sharp's re-encoding, never the file's own bytes.
  app.get("/v1/runs/:id/thumbnail", { schema: { params: idParams } }, async (req, reply) => {
    const r = await ui.run(req);
    const q = req.query as Query;
    const file = q.file ?? "";
    const size = Math.min(512, Math.max(16, Number(q.size ?? 128) || 128));
    const ds = await ui.store.getDataset(ui.owner(req), r.dataset_id);
    if (!ds) throw new HttpError(404, `dataset ${JSON.stringify(r.dataset_id)} not found`);
    if (/^s3:\/\//i.test(ds.datasource)) throw new HttpError(404, `thumbnails are read from local datasources only; dataset ${ds.name} is at ${ds.datasource}`);
    // Object crops are named "<image>#<index>": show their image.
    const image = file.replace(/#\d+$/, "");
    let abs: string;
    try {
      abs = resolveInside(resolveInside(o.datasourceRoot, ds.datasource), image);
      if (!IMAGE_EXTENSIONS.has(extensionOf(image))) throw new PathRefused(image, "not an image file name");
      await checkRealInside(abs, image);
    } catch (e) {
      if (e instanceof PathRefused) throw new HttpError(404, `file ${e.message}`);
      throw e;
    }
    // Bounded: a few decodes at once (sharp's threads are shared by every tenant), a budget each.
    const out = await withBudget(thumbs.run(async () => {
      let bytes: Buffer;
      try {
        bytes = await readRegularFile(abs, image, thumbMaxBytes);
      } catch (e) {
        if (e instanceof PathRefused) throw new HttpError(404, `file ${e.message}`);
        throw e;
      }
      try {
        return await sharp(bytes, { limitInputPixels: 1e8 }).rotate().resize(size, size, { fit: "inside", withoutEnlargement: false }).webp({ quality: 80 }).toBuffer();
      } catch (e) {
        throw new HttpError(404, `file ${JSON.stringify(file)}: cannot be decoded (${(e as Error).message})`);
      }
    }), thumbBudgetMs, `the thumbnail of ${JSON.stringify(image)}`);
    reply.header("content-type", "image/webp");
    reply.header("cache-control", "private, max-age=3600");
    return reply.send(out);
  });
};
