// data/map_metadata.json: the per-image metadata the run page's embedding map colours by, one column
// per field, rows named like embeddings.csv's. Fields: every entry of Lightly's .lightly/metadata
// schema (when the input has one), the `lightly.*` values the selection computed, and
// lightly.sizeInBytes (a stat per image, always cheap; a frame's is its video's size / frame count).
// Sharpness, SNR and the shape need a full decode of every image, so they are included only when the
// selection already computed them.
import * as fs from "node:fs";
import * as path from "node:path";
import { readMetadataSchema, readMetadataValues, type MetadataEntry } from "../predictions/metadata.js";
import { parseCropName } from "../predictions/values.js";
import { metadataDirFor } from "./selection-sources.js";
import { frameSizeInBytes } from "./lightly-metadata.js";
import type { RunVideos } from "./videos.js";

export interface MapMetadataField {
  key: string;
  /** numeric: a continuous colour scale; categorical: discrete colours (strings, booleans as "true"/"false"). */
  kind: "numeric" | "categorical";
  /** One value per row of `filenames`; null where the image has none. */
  values: (number | string | null)[];
}

export interface MapMetadata {
  filenames: string[];
  fields: MapMetadataField[];
}

/** At most this many fields (a schema with hundreds of entries would make a huge file no one reads). */
export const MAP_METADATA_FIELDS = 32;

const numericType = (e: MetadataEntry): boolean => e.valueDataType === "NUMERIC_INT" || e.valueDataType === "NUMERIC_FLOAT";

/**
 * The map's metadata of `items` (images, or crops "<image>#<i>" with their image's values). `known`
 * holds the values the selection already loaded (custom keys by path or name, `lightly.*` keys).
 */
export function mapMetadataOf(o: { input: string; lightlyPath?: string | null; items: readonly string[]; known: Record<string, (number | string | null)[]>; videos?: RunVideos | null }): { metadata: MapMetadata; notes: string[] } {
  const notes: string[] = [];
  const images = o.items.map((f) => parseCropName(f)?.image ?? f);
  const fields: MapMetadataField[] = [];
  const dir = metadataDirFor(o.input, o.lightlyPath);
  let schema: MetadataEntry[] = [];
  if (fs.existsSync(path.join(dir, "schema.json"))) {
    try {
      schema = readMetadataSchema(dir);
    } catch (e) {
      notes.push(`the map's metadata leaves out ${path.join(dir, "schema.json")}: ${(e as Error).message}`);
    }
  }
  const known = new Map(Object.entries(o.known));
  const fresh = schema.filter((e) => !known.has(e.path) && !known.has(e.name)).slice(0, MAP_METADATA_FIELDS);
  const videoOf = (f: string): string | undefined => o.videos?.frameOf(f)?.video;
  const read = fresh.length ? readMetadataValues(dir, fresh, images, videoOf).values : [];
  for (const e of schema) {
    const values = known.get(e.path) ?? known.get(e.name) ?? read[fresh.indexOf(e)];
    if (values) fields.push({ key: e.path, kind: numericType(e) ? "numeric" : "categorical", values });
  }
  for (const [key, values] of known) {
    if (key.startsWith("lightly.")) fields.push({ key, kind: "numeric", values });
  }
  if (!known.has("lightly.sizeInBytes")) {
    // Keyed by the file stat'ed: a crop's image, or a frame's video (one stat per video, not per frame).
    const size = new Map<string, number | null>();
    const sizeOf = (img: string): number | null => {
      const video = videoOf(img);
      const key = video ?? img;
      if (!size.has(key)) {
        if (video !== undefined) size.set(key, frameSizeInBytes(o.input, o.videos!, video));
        else {
          try {
            size.set(key, fs.statSync(path.join(o.input, img)).size);
          } catch {
            size.set(key, null);
          }
        }
      }
      return size.get(key)!;
    };
    fields.push({ key: "lightly.sizeInBytes", kind: "numeric", values: images.map(sizeOf) });
  }
  if (fields.length > MAP_METADATA_FIELDS) notes.push(`the map's metadata keeps the first ${MAP_METADATA_FIELDS} of ${fields.length} fields`);
  return { metadata: { filenames: [...o.items], fields: fields.slice(0, MAP_METADATA_FIELDS) }, notes };
}
