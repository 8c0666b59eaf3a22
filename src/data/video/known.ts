// Frame counts of unchanged videos, read back from the previous cache index, so that a rebuild does
// not demux every video again to count its packets (ffprobe -count_packets reads the whole file).
// A video's count is taken only when the index holds exactly its frames 0..n-1, named with the
// padding n implies, all recorded with the video's current size and mtime.
import { frameName } from "./names.js";

export interface PreviousEntries {
  filenames: readonly string[];
  sizes: ArrayLike<number>;
  mtimesNs: ArrayLike<bigint>;
}

export interface VideoFile {
  rel: string;
  size: number;
  mtimeNs: bigint;
}

/** Video → its frame count, for the videos whose frames the previous index lists unchanged. */
export function knownFrameCounts(previous: PreviousEntries, videos: readonly VideoFile[]): Map<string, number> {
  const byName = new Map(videos.map((v) => [v.rel, { v, count: 0, ok: true }]));
  previous.filenames.forEach((name, j) => {
    // `<stem>-<digits>-<ext>.png`; the greedy stem takes the last such suffix, as frameName writes it.
    const m = /^(.*)-(\d+)-([^/.]+)\.png$/.exec(name);
    const e = m && byName.get(`${m[1]}.${m[3]}`);
    if (!e) return;
    e.count++;
    if (previous.sizes[j] !== e.v.size || previous.mtimesNs[j] !== e.v.mtimeNs) e.ok = false;
  });
  const out = new Map<string, number>();
  const names = new Set(previous.filenames);
  for (const [rel, e] of byName) {
    if (!e.ok || e.count === 0) continue;
    // Exactly frames 0..n-1 under n's padding (a name padded for another count means another n).
    let all = true;
    for (let k = 0; k < e.count && all; k++) all = names.has(frameName(rel, k, e.count));
    if (all) out.set(rel, e.count);
  }
  return out;
}
