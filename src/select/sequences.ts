// Sequence selection (Lightly worker's selected_sequence_length = N > 1): each video is cut into
// sequences of N consecutive frames from its first frame, a sequence's embedding is the mean of its
// frames', the selection picks sequences, and each pick stands for its N frames. Lightly: n_samples
// counts frames and must be a multiple of N; a proportion is rounded up to the next multiple.
import { WinnowError } from "../util/errors.js";

/** Where a row (an embedded item) comes from when it is a video frame. */
export interface FrameRef {
  video: string;
  /** 0-based frame index in the video. */
  frame: number;
}

/**
 * Sequences of `n` consecutive frames of one video, as lists of row indices in frame order; videos
 * in the order their frames first appear in `rows`, sequences in time order. A sequence is
 * [k·n, (k+1)·n) of its video; one missing any frame (undecodable, dropped) or running past the
 * end is left out, so every sequence is exactly n consecutive frames. Rows without a FrameRef
 * (images) are in none.
 */
export function frameSequences(rows: ReadonlyArray<FrameRef | undefined>, n: number): number[][] {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`sequence length must be an integer ≥ 1, got ${n}`);
  const byVideo = new Map<string, Map<number, number>>();
  rows.forEach((r, i) => {
    if (!r) return;
    let m = byVideo.get(r.video);
    if (!m) byVideo.set(r.video, (m = new Map()));
    m.set(r.frame, i);
  });
  const out: number[][] = [];
  for (const frames of byVideo.values()) {
    const last = Math.max(...frames.keys());
    for (let start = 0; start + n - 1 <= last; start += n) {
      const seq: number[] = [];
      for (let f = start; f < start + n; f++) {
        const row = frames.get(f);
        if (row === undefined) break;
        seq.push(row);
      }
      if (seq.length === n) out.push(seq);
    }
  }
  return out;
}

/** Mean of each sequence's rows of the row-major `values` (d columns): one row per sequence. */
export function sequenceEmbeddings(values: Float32Array, d: number, sequences: number[][]): Float32Array {
  const out = new Float32Array(sequences.length * d);
  sequences.forEach((seq, s) => {
    const acc = new Float64Array(d);
    for (const r of seq) for (let j = 0; j < d; j++) acc[j]! += values[r * d + j]!;
    for (let j = 0; j < d; j++) out[s * d + j] = acc[j]! / seq.length;
  });
  return out;
}

/**
 * How many sequences to pick. `nSamples` (frames) must be a multiple of `n` (or -1: no limit);
 * `proportion` of the `frames` frames is floor(p × frames) (as for single frames), rounded up to the
 * next multiple of n.
 */
export function sequenceCount(sel: { n_samples?: number; proportion_samples?: number }, n: number, frames: number): number {
  if (sel.n_samples !== undefined) {
    if (sel.n_samples === -1) return -1;
    if (sel.n_samples % n !== 0) {
      throw new WinnowError("invalid_config", `selection_config.n_samples ${sel.n_samples} is not a multiple of worker_config.selected_sequence_length ${n} (n_samples counts frames: ${Math.floor(sel.n_samples / n) * n} or ${Math.ceil(sel.n_samples / n) * n} would select whole sequences)`,
        { where: "selection_config.n_samples" });
    }
    return sel.n_samples / n;
  }
  return Math.ceil(Math.floor((sel.proportion_samples ?? 0) * frames) / n);
}
