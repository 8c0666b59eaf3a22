// Artifacts: the holding worker uploads them (streamed to storage, never buffered), anyone of the
// owner downloads them or asks for a signed, expiring URL; signed URLs work without a token.
import type { Readable } from "node:stream";
import { newId } from "../../db/store.js";
import { RUN_END_STATES, type ArtifactType } from "../../db/records.js";
import { HttpError, notFound } from "../http-error.js";
import { checkSignature } from "../signing.js";
import { checkArtifactName, StorageFull } from "../storage.js";
import { artifactParams, artifactUploadQuery, idParams, signedArtifactParams, signedUrlBody } from "../schemas.js";
import type { ApiPlugin } from "./plugin.js";

type ArtifactParams = { id: string; name: string };

export const artifactRoutes: ApiPlugin = async (app, { ctx }) => {
  const { store, storage, owner } = ctx;
  const artifactLimit = ctx.o.artifactLimit ?? 8 * 1024 ** 3;
  // The run is the caller's and held by the calling worker, and the name is allowed, before the query is judged.
  const upload = ctx.loadFirst(async (req) => {
    const held = await ctx.workerRun(req, (req.params as ArtifactParams).id);
    const bad = checkArtifactName((req.params as ArtifactParams).name);
    if (bad) throw new HttpError(400, bad, "name");
    return held;
  });
  const artifact = ctx.loadFirst(async (req) => {
    const { id, name } = req.params as ArtifactParams;
    const r = await ctx.run(req, id);
    const a = await store.getArtifactByName(owner(req), r.id, name);
    if (!a) throw notFound("artifact", name);
    return a;
  });

  app.put("/v1/runs/:id/artifacts/:name", { schema: { params: artifactParams, querystring: artifactUploadQuery }, preValidation: upload.hook }, async (req, reply) => {
    const { run: r } = upload.get(req);
    const name = req.params.name;
    const type = req.query.type as ArtifactType;
    if (!req.body || typeof (req.body as Readable).pipe !== "function") throw new HttpError(400, "artifact body must be sent as application/octet-stream");
    if (RUN_END_STATES.has(r.state)) throw ctx.endedConflict(r, `artifact ${JSON.stringify(name)}`);
    // A fresh key per upload: the bytes of the recorded artifact are never overwritten, so an upload
    // refused below (the run ended meanwhile) leaves the kept checkpoint exactly as it was.
    const key = `${owner(req)}/${r.id}/${name}.${newId()}`;
    let stored;
    try {
      stored = await storage.put(key, req.body as Readable, artifactLimit);
    } catch (e) {
      if (e instanceof StorageFull) throw new HttpError(507, `artifact ${JSON.stringify(name)} of run ${r.id}: ${e.message}`);
      throw e;
    }
    const put = await store.putArtifact(owner(req), r.id, { name, type, size: stored.size, sha256: stored.sha256, storageKey: key });
    if (!put) {
      await storage.delete(key).catch(() => {});
      throw ctx.endedConflict((await store.getRun(owner(req), r.id))!, `artifact ${JSON.stringify(name)}`);
    }
    if (put.replacedKey) await storage.delete(put.replacedKey).catch(() => {});
    return reply.code(201).send(put.data);
  });
  app.get("/v1/runs/:id/artifacts", { schema: { params: idParams } }, async (req) => (await ctx.run(req, req.params.id)).artifacts);
  app.get("/v1/runs/:id/artifacts/:name", { schema: { params: artifactParams } }, async (req, reply) => {
    const r = await ctx.run(req, req.params.id);
    const a = await store.getArtifactByName(owner(req), r.id, req.params.name);
    if (!a) throw notFound("artifact", req.params.name);
    return ctx.stream(reply, a.storageKey, a.data.file_name, a.data.size);
  });
  app.post("/v1/runs/:id/artifacts/:name/signed-url", { schema: { params: artifactParams, body: signedUrlBody }, preValidation: artifact.hook }, async (req) => {
    return ctx.signedUrl(req, artifact.get(req).data.id, req.body.expires_in);
  });
  app.get("/v1/signed/artifacts/:artifactId", { schema: { params: signedArtifactParams } }, async (req, reply) => {
    const id = req.params.artifactId;
    const q = req.query as Record<string, string | undefined>;
    const check = checkSignature(ctx.o.signingSecret, id, q, Date.now());
    if (!check.ok) throw new HttpError(403, `signed URL refused: ${check.reason}`);
    if (!(await store.tokenActive(check.tokenId))) throw new HttpError(403, "signed URL refused: the token that made it has been revoked");
    const a = await store.getArtifactById(id);
    if (!a) throw notFound("artifact", id);
    return ctx.stream(reply, a.storageKey, a.data.file_name, a.data.size, Number(q.expires) - Date.now() / 1000);
  });
};
