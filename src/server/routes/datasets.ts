// Datasets: create (the datasource checked against the server's root), list, get, delete.
import * as fs from "node:fs";
import * as path from "node:path";
import { resolveInside, PathRefused } from "../../data/folder.js";
import { isS3Url, parseS3Url, s3UrlOf } from "../../s3/client.js";
import { HttpError, notFound } from "../http-error.js";
import { createDatasetBody, datasetsQuery, idParams } from "../schemas.js";
import type { ApiPlugin } from "./plugin.js";

/**
 * The datasource as stored: an S3 URL, or a folder relative to `realRoot` that stays inside it.
 * `mustExist`: a folder the server cannot see is refused now, not when a run starts (off for
 * deployments where only workers mount the data: `winnow serve --no-datasource-check`).
 */
export function checkDatasource(realRoot: string, ds: string, mustExist = true): string {
  // An S3 prefix: workers list and mirror it themselves (src/data/s3-mirror.ts).
  if (isS3Url(ds)) {
    try {
      return s3UrlOf(parseS3Url(ds, "datasource"));
    } catch (e) {
      throw new HttpError(400, (e as Error).message, "datasource");
    }
  }
  let abs: string;
  try {
    abs = resolveInside(realRoot, ds.replace(/\/+$/, ""));
  } catch (e) {
    if (e instanceof PathRefused) throw new HttpError(400, `datasource: ${e.reason} (a folder relative to the datasource root)`, "datasource");
    throw e;
  }
  // Where the server can see the folder, it must not lead out of the root through a symlink.
  if (!fs.existsSync(abs)) {
    if (mustExist) throw new HttpError(400, `datasource ${JSON.stringify(ds)}: no such folder under the server's datasource root; nothing was created`, "datasource");
  } else {
    const real = fs.realpathSync(abs);
    if (real !== abs) throw new HttpError(400, `datasource ${JSON.stringify(ds)}: symbolic link in the path (it may lead outside the datasource root)`, "datasource");
    if (!fs.statSync(real).isDirectory()) throw new HttpError(400, `datasource ${JSON.stringify(ds)} is not a folder`, "datasource");
  }
  return path.relative(realRoot, abs);
}

export const datasetRoutes: ApiPlugin = async (app, { ctx }) => {
  const { store, storage, owner } = ctx;

  app.post("/v1/datasets", { schema: { body: createDatasetBody } }, async (req, reply) => {
    const d = await store.createDataset(owner(req), req.body.name, checkDatasource(ctx.realRoot, req.body.datasource, ctx.o.datasourceCheck ?? true));
    return reply.code(201).send(d);
  });
  app.get("/v1/datasets", { schema: { querystring: datasetsQuery } }, async (req) => store.listDatasets(owner(req), req.query.name));
  app.get("/v1/datasets/:id", { schema: { params: idParams } }, async (req) => ctx.dataset(req, req.params.id));
  // Deletes the dataset's records (scheduled runs, runs, logs, artifacts) and artifact bytes;
  // 409 while any of its runs is queued or running. Its datasource folder is not touched.
  app.delete("/v1/datasets/:id", { schema: { params: idParams } }, async (req, reply) => {
    const id = req.params.id;
    const gone = await store.deleteDataset(owner(req), id);
    if (!gone) throw notFound("dataset", id);
    // The records are gone already; a byte that cannot be deleted now is only wasted space.
    for (const key of gone.storageKeys) {
      await storage.delete(key).catch((e: Error) => req.log.warn(`dataset ${id}: artifact ${key} not deleted from storage: ${e.message}`));
    }
    return reply.code(204).send();
  });
};
