// The end message a worker sends names its paths relative to the run folder, the datasource root or
// the work dir; a path that only starts like one of them, or the filesystem root, is left alone.
import { test } from "node:test";
import assert from "node:assert/strict";
import { relativeMessage } from "../src/worker/message-paths.js";

const dirs = { runDir: "/srv/work/runs/r1", realRoot: "/data/root", workDir: "/srv/work" };

test("worker paths in an end message read relative to the run folder, the datasource root or the work dir", () => {
  const cases: [string, string][] = [
    ["ENOENT: no such file or directory, realpath '/data/root/missing-folder'", "ENOENT: no such file or directory, realpath 'missing-folder'"],
    ["image /data/root/imgs/a b.png: corrupt", "image imgs/a b.png: corrupt"],
    ["cannot write /srv/work/runs/r1/output/checkpoints/last.ckpt (disk full)", "cannot write run folder/output/checkpoints/last.ckpt (disk full)"],
    ["cache /srv/work/cache/x.bin unreadable; datasource root /data/root.", "cache work dir/cache/x.bin unreadable; datasource root the datasource root."],
    ["run folder /srv/work/runs/r1: not empty", "run folder the run folder: not empty"],
    // Only whole path segments: a sibling folder whose name starts the same is another path.
    ["/data/rootless/x and /srv/work/runs/r10/y", "/data/rootless/x and work dir/runs/r10/y"],
    ["copied to /data/root.bak/x; see /data/root.", "copied to /data/root.bak/x; see the datasource root."],
    ["no path here", "no path here"],
  ];
  for (const [given, want] of cases) assert.equal(relativeMessage(given, dirs), want, given);
  // A trailing slash in a setting changes nothing; "/" as a root is never replaced.
  assert.equal(relativeMessage("at /data/root/imgs", { ...dirs, realRoot: "/data/root/" }), "at imgs");
  assert.equal(relativeMessage("at /etc/passwd", { ...dirs, realRoot: "/" }), "at /etc/passwd");
});
