// What the API's route plugins share: the store, the artifact storage, the options, and the lookups
// every route makes the same way (a record of the caller's owner or 404, the worker holding a run,
// signed URLs, artifact downloads). Built once per app by buildApp.
import type { EventEmitter } from "node:events";
import type { Readable } from "node:stream";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Store } from "../db/store.js";
import { ConflictError } from "../db/store.js";
import type { DatasetData, RunData, WorkerData } from "../db/records.js";
import type { TagStore } from "../db/tags.js";
import type { ArtifactStorage } from "./storage.js";
import type { AppOptions } from "./app-options.js";
import { HttpError, notFound } from "./http-error.js";
import { signArtifact } from "./signing.js";

export class RouteContext {
  /** Records loaded by a route's preValidation (see `loadFirst`), by request. */
  private readonly loaded = new WeakMap<FastifyRequest, unknown>();

  constructor(
    readonly o: AppOptions,
    readonly store: Store,
    readonly storage: ArtifactStorage,
    readonly tags: TagStore,
    /** Real path of the datasource root. */
    readonly realRoot: string,
    /** Emits "scheduled" when a run is scheduled (wakes long-polling claims). */
    readonly wake: EventEmitter,
  ) {}

  owner = (req: FastifyRequest): string => req.principal!.owner;

  async dataset(req: FastifyRequest, id: string): Promise<DatasetData> {
    const d = await this.store.getDataset(this.owner(req), id);
    if (!d) throw notFound("dataset", id);
    return d;
  }

  async run(req: FastifyRequest, id: string): Promise<RunData> {
    const r = await this.store.getRun(this.owner(req), id);
    if (!r) throw notFound("run", id);
    return r;
  }

  async worker(req: FastifyRequest, id: string): Promise<WorkerData> {
    const w = await this.store.getWorker(this.owner(req), id);
    if (!w) throw notFound("worker", id);
    return w;
  }

  /** The calling worker (header X-Winnow-Worker) must be the one that holds the run. */
  async workerRun(req: FastifyRequest, id: string): Promise<{ run: RunData; workerId: string }> {
    const r = await this.run(req, id);
    const wid = req.headers["x-winnow-worker"];
    if (typeof wid !== "string" || wid !== r.worker_id) throw new HttpError(403, `run ${id} is held by worker ${r.worker_id}; send its id in X-Winnow-Worker`);
    return { run: r, workerId: wid };
  }

  /**
   * A route's record looked up before its body or query is judged, so another owner's id answers 404
   * whatever the request carries (as an unknown id does): `hook` goes in the route's preValidation,
   * `get` reads the record in the handler.
   */
  loadFirst<T>(load: (req: FastifyRequest) => Promise<T>): { hook: (req: FastifyRequest) => Promise<void>; get: (req: FastifyRequest) => T } {
    return {
      hook: async (req) => void this.loaded.set(req, await load(req)),
      get: (req) => this.loaded.get(req) as T,
    };
  }

  /** A signed URL bound to the calling token: revoking that token ends the URL too. */
  signedUrl(req: FastifyRequest, artifactId: string, ttlSec: number): { url: string; expires_at: number } {
    const exp = Math.floor(Date.now() / 1000) + ttlSec;
    const tokenId = req.principal!.tokenId;
    const sig = signArtifact(this.o.signingSecret, artifactId, tokenId, exp);
    return { url: `${this.o.publicUrl()}/v1/signed/artifacts/${artifactId}?expires=${exp}&signature=${sig}&t=${tokenId}`, expires_at: exp * 1000 };
  }

  /** Ended runs are immutable: their artifacts and log are refused with 409. */
  endedConflict(r: RunData, what: string): ConflictError {
    return new ConflictError(`run ${r.id} has ended (${r.state}); ${what} refused: the artifacts and log of an ended run cannot change`);
  }

  /** An artifact's bytes: a redirect to the storage's presigned URL where it has them, else streamed. */
  async stream(reply: FastifyReply, key: string, fileName: string, size: number, ttlSec = 900): Promise<FastifyReply> {
    if (this.storage.presignGet && this.o.storageRedirect !== false) {
      // The presigned URL only has to outlive the start of the download (S3 checks it once).
      return reply.redirect(await this.storage.presignGet(key, Math.min(ttlSec, 900), fileName), 302);
    }
    let body: Readable;
    try {
      body = await this.storage.get(key);
    } catch {
      throw new HttpError(404, `artifact ${JSON.stringify(fileName)}: stored bytes are missing`);
    }
    reply.header("content-type", "application/octet-stream");
    reply.header("content-length", String(size));
    reply.header("content-disposition", `attachment; filename="${fileName}"`);
    return reply.send(body);
  }
}
