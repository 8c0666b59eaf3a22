// Rebuilding a cache over unchanged videos does not demux them again to count their frames: the
// count comes from the previous index (issue 25, part 2). The video addon's calls are tapped, so the
// test sees which probes ran.
import { test, describe, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { buildImageCache, previousEntriesFor } from "../src/data/cache.js";
import { listFolderWithVideos } from "../src/data/video/listing.js";
import { frameName } from "../src/data/video/names.js";
import { knownFrameCounts } from "../src/data/video/known.js";
import { tapVideoCalls, type VideoCall } from "../src/data/video/native.js";
import { tempDir } from "./helpers/data-images.js";
import { ff } from "./helpers/data-video.js";

const dirs: string[] = [];
const mk = (): string => {
  const d = tempDir("winnow-video-reprobe-");
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe("video probes on rebuild", () => {
  test("an unchanged video is not demuxed again (headers only); a touched one is", async () => {
    const root = mk();
    ff("-f", "lavfi", "-i", "testsrc=size=48x32:rate=10", "-frames:v", "6", "-c:v", "libx264", "-pix_fmt", "yuv420p", path.join(root, "a.mp4"));
    // Written to a pipe: its header has no frame count, so only the index can give it.
    const mkv = execFileSync("ffmpeg", ["-v", "error", "-nostdin", "-threads", "1", "-f", "lavfi", "-i", "testsrc=size=48x32:rate=10", "-frames:v", "11", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-f", "matroska", "pipe:1"]);
    fs.writeFileSync(path.join(root, "b.mkv"), mkv);
    const tap = tapVideoCalls();
    const calls = (): VideoCall[] => tap.take().filter((c) => c.op !== "decode");
    const counted = (cs: VideoCall[]): string[] => cs.filter((c) => c.op === "count").map((c) => path.basename(c.file)).sort();
    const cacheDir = mk();
    const build = async (): Promise<{ decoded: number; names: string[] }> => {
      const c = await buildImageCache(root, { cacheDir, resolution: 8, videos: { threads: 1 } });
      try {
        return { decoded: c.stats.decoded, names: [...c.filenames] };
      } finally {
        c.close();
      }
    };
    const names = [...Array.from({ length: 6 }, (_, k) => frameName("a.mp4", k, 6)), ...Array.from({ length: 11 }, (_, k) => frameName("b.mkv", k, 11))];

    const first = await build();
    assert.deepEqual(first, { decoded: 17, names });
    assert.deepEqual(counted(calls()), ["a.mp4", "b.mkv"]);

    const second = await build();
    assert.deepEqual(second, { decoded: 0, names });
    const c2 = calls();
    assert.equal(c2.length, 2, "each video still probed once for its headers");
    assert.deepEqual(counted(c2), []);

    // A caller that lists the folder itself (as `winnow run` does) gets the same through previousEntriesFor.
    const listing = await listFolderWithVideos(root, { threads: 1 }, previousEntriesFor({ cacheDir, resolution: 8 }));
    assert.deepEqual(listing.filenames, names);
    const c3 = calls();
    assert.deepEqual([c3.length, counted(c3)], [2, []]);

    const t = new Date(Date.now() + 5000);
    fs.utimesSync(path.join(root, "b.mkv"), t, t);
    const third = await build();
    assert.deepEqual(third, { decoded: 11, names });
    assert.deepEqual(counted(calls()), ["b.mkv"]);
    tap.stop();
  });

  test("knownFrameCounts takes a count only for exactly frames 0..n-1, unchanged, padded for n", () => {
    const v = { rel: "d/clip.mp4", size: 100, mtimeNs: 7n };
    const entries = (names: string[], size = 100, mtime = 7n) => ({ filenames: names, sizes: names.map(() => size), mtimesNs: names.map(() => mtime) });
    const ten = Array.from({ length: 10 }, (_, k) => frameName("d/clip.mp4", k, 10));
    assert.deepEqual([...knownFrameCounts(entries([...ten, "d/other.png"]), [v])], [["d/clip.mp4", 10]]);
    assert.equal(knownFrameCounts(entries(ten, 101), [v]).size, 0, "size changed");
    assert.equal(knownFrameCounts(entries(ten, 100, 8n), [v]).size, 0, "mtime changed");
    assert.equal(knownFrameCounts(entries(ten.slice(1)), [v]).size, 0, "a frame missing");
    assert.equal(knownFrameCounts(entries(Array.from({ length: 9 }, (_, k) => frameName("d/clip.mp4", k, 10))), [v]).size, 0, "padding of another count");
    assert.equal(knownFrameCounts(entries(["d/clip.mp4"]), [v]).size, 0, "a video that failed to probe (listed under its own name)");
  });
});
