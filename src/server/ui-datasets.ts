// The UI's dataset and config helpers: whether a datasource folder exists under this server's root
// (the dataset form), a dataset's datapool size, and config validation without scheduling.
import * as fs from "node:fs";
import { resolveInside, checkRealInside, PathRefused } from "../data/folder.js";
import { checkScheduledConfig } from "./configs.js";
import { HttpError } from "./http-error.js";
import { createConfigBody, idParams } from "./schemas.js";
import { countLines } from "./ui-text.js";
import { LruCache } from "./ui-embedding-map.js";
import type { Query, UiPlugin } from "./ui-context.js";

export const uiDatasetRoutes: UiPlugin<{ datasourceRoot: string }> = async (app, o) => {
  const { ui } = o;
  const datapoolSizes = new LruCache<number>(256);

  // The dataset form's check that a datasource folder exists under this server's datasource root
  // (where thumbnails are read). The API itself accepts any datasource: workers resolve it under
  // their own --datasource-root, which may be another machine's folder.
  app.get("/v1/datasource-check", async (req) => {
    const ds = String((req.query as Query).datasource ?? "");
    if (/^s3:\/\//i.test(ds)) return { datasource: ds, exists: null, message: "an S3 datasource: not checked here (workers read the bucket)" };
    try {
      const abs = resolveInside(o.datasourceRoot, ds);
      const st = await fs.promises.stat(abs);
      await checkRealInside(abs, ds);
      if (!st.isDirectory()) return { datasource: ds, exists: false, message: `datasource ${JSON.stringify(ds)}: not a folder under the server's datasource root` };
      return { datasource: ds, exists: true, message: "" };
    } catch (e) {
      const why = e instanceof PathRefused ? e.reason : (e as NodeJS.ErrnoException).code === "ENOENT" ? "no such folder under the server's datasource root" : (e as Error).message;
      return { datasource: ds, exists: false, message: `datasource ${JSON.stringify(ds)}: ${why}` };
    }
  });


  // The dataset's datapool: the DATAPOOL_FILENAMES of its newest COMPLETED datapool run.
  app.get("/v1/datasets/:id/datapool", { schema: { params: idParams } }, async (req) => {
    const id = req.params.id;
    const ds = await ui.store.getDataset(ui.owner(req), id);
    if (!ds) throw new HttpError(404, `dataset ${JSON.stringify(id)} not found`);
    const s = await ui.store.newestDatasetSelection(ui.owner(req), ds.id, "");
    if (!s) return { run_id: null, size: 0 };
    const size = await datapoolSizes.get(`${s.artifact.id}:${s.artifact.sha256}`, async () => {
      const a = await ui.store.getArtifactByName(ui.owner(req), s.run.id, s.artifact.file_name);
      return a ? countLines(await ui.storage.get(a.storageKey)) : 0;
    });
    return { run_id: s.run.id, size };
  });

  // The scheduling form's live check: the same schemas as scheduling, without creating anything.
  app.post("/v1/configs/validate", async (req) => {
    const parsed = createConfigBody.safeParse(req.body ?? {});
    if (!parsed.success) {
      return { valid: false, issues: parsed.error.issues.map((i) => ({ path: i.path.map(String).join(".") || "body", message: i.message })) };
    }
    const b = parsed.data;
    const issues = [...(checkScheduledConfig(b) ?? [])];
    const rid = (b.worker_config as { checkpoint_run_id?: unknown } | null | undefined)?.checkpoint_run_id;
    if (typeof rid === "string" && rid && !(await ui.store.getRun(ui.owner(req), rid))) {
      issues.push({ path: "worker_config.checkpoint_run_id", message: `run ${JSON.stringify(rid)} not found` });
    }
    return { valid: issues.length === 0, issues: issues.map((i) => ({ path: i.path, message: i.message })) };
  });
};
