// Video files and the names of their frames, as the Lightly worker writes them.
//
// Lightly names frame k of `dir/clip.mp4` (n frames) `dir/clip-<k>-mp4.png`: the video's relative
// name without its last extension, the 0-based frame index zero-padded to the digits of n, the
// video's extension as written, and ".png" (lightly-ai/lightly, lightly/data/_video.py,
// VideoDataset.get_filename / _format_filename). Frame names are never files on disk.
import { extensionOf } from "../folder.js";

/** Video extensions taken when videos are enabled (compared lower-cased). */
export const VIDEO_EXTENSIONS: ReadonlySet<string> = new Set([".mp4", ".mov", ".avi", ".mkv", ".webm"]);

export function isVideoName(name: string): boolean {
  return VIDEO_EXTENSIONS.has(extensionOf(name));
}

/** The Lightly name of frame `index` (0-based) of the video `videoRel` that has `frameCount` frames. */
export function frameName(videoRel: string, index: number, frameCount: number): string {
  if (!Number.isInteger(index) || index < 0 || index >= frameCount) throw new RangeError(`frame index ${index} outside [0, ${frameCount})`);
  const dot = videoRel.lastIndexOf(".");
  const stem = videoRel.slice(0, dot);
  const ext = videoRel.slice(dot + 1);
  return `${stem}-${String(index).padStart(String(frameCount).length, "0")}-${ext}.png`;
}
