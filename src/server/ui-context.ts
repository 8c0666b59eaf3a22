// What the UI's route plugins share: the store and storage, the caller's runs, and the per-artifact
// caches of line counts (a finished artifact's count never changes).
import type { FastifyPluginAsync, FastifyRequest, RawServerDefault } from "fastify";
import type { Store } from "../db/store.js";
import type { ArtifactData, ArtifactType, RunData } from "../db/records.js";
import type { ArtifactStorage } from "./storage.js";
import { HttpError } from "./http-error.js";
import { countLines, readText } from "./ui-text.js";
import { LruCache } from "./ui-embedding-map.js";
import type { ZodTypeProvider } from "./validation.js";

/** The largest report.json or REPORT_HTML the UI's routes read on the event loop (JSON.parse cannot yield). */
const REPORT_LIMIT = 64 * 1024 * 1024;

/** Query values as the router gives them (the UI's routes judge them with their own messages). */
export type Query = Record<string, string | undefined>;

export class UiContext {
  private readonly lineCounts = new LruCache<number>(1024);

  constructor(readonly store: Store, readonly storage: ArtifactStorage) {}

  owner = (req: FastifyRequest): string => req.principal!.owner;

  async run(req: FastifyRequest): Promise<RunData> {
    const id = (req.params as { id: string }).id;
    const r = await this.store.getRun(this.owner(req), id);
    if (!r) throw new HttpError(404, `run ${JSON.stringify(id)} not found`);
    return r;
  }

  /** Lines of the run's SELECTED_FILENAMES, counted once per artifact version. */
  async selectedCount(req: FastifyRequest, r: RunData): Promise<number | null> {
    const a = r.artifacts.find((x) => x.type === "SELECTED_FILENAMES");
    if (!a) return null;
    return this.lineCounts.get(`${a.id}:${a.sha256}`, async () => {
      const s = await this.store.getArtifactByName(this.owner(req), r.id, a.file_name);
      return s ? countLines(await this.storage.get(s.storageKey)) : 0;
    });
  }

  /** The text of the run's artifact of this type, or null when it has none. */
  async artifactText(req: FastifyRequest, r: RunData, type: ArtifactType): Promise<{ artifact: ArtifactData; text: string } | null> {
    const a = r.artifacts.find((x) => x.type === type);
    if (!a) return null;
    const s = await this.store.getArtifactByName(this.owner(req), r.id, a.file_name);
    if (!s) return null;
    return { artifact: a, text: await readText(await this.storage.get(s.storageKey), REPORT_LIMIT) };
  }
}

export type UiPlugin<O = object> = FastifyPluginAsync<O & { ui: UiContext }, RawServerDefault, ZodTypeProvider>;
