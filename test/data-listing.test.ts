// The local folder datasource: which files are taken, in which order, and what is refused.
import { test, describe, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { listImageFolder, resolveInside, PathRefused, compareCodePoints } from "../src/data/folder.js";
import { buildImageCache } from "../src/data/cache.js";
import { solid, tempDir, write } from "./helpers/data-images.js";

const dirs: string[] = [];
const mk = (): string => {
  const d = tempDir();
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe("listImageFolder", () => {
  test("recursive, extension filter case-insensitive, hidden skipped, code-point order", () => {
    const root = mk();
    const names = [
      "b.JPG", "a.png", "sub/c.jpeg", "sub/deeper/d.webp", "Z.gif", "e.TIFF", "f.tif", "g.Bmp",
      "a/b.png", "a.b/c.png", "a-b.png", "\u00fc.png", "\u{1F600}.png", "\uE000.png", "10.png", "9.png",
    ];
    for (const n of names) write(root, n, "x");
    for (const n of ["notes.txt", "x.jpg.bak", "noext", "sub/readme.md", "jpg", "svg.svg", "h.heic"]) write(root, n, "x");
    for (const n of [".hidden.jpg", ".lightly/h.png", "sub/.cache/i.png", "sub/.j.png", "._mac.jpg"]) write(root, n, "x");
    const l = listImageFolder(root);
    // Code-point (UTF-8 byte) order: "-" < "." < "/" < digits < upper < lower < ü < U+E000 < astral.
    assert.deepEqual(l.filenames, [
      "10.png", "9.png", "Z.gif", "a-b.png", "a.b/c.png", "a.png", "a/b.png", "b.JPG", "e.TIFF", "f.tif", "g.Bmp",
      "sub/c.jpeg", "sub/deeper/d.webp", "\u00fc.png", "\uE000.png", "\u{1F600}.png",
    ]);
    // The same order as sorting the UTF-8 bytes.
    const byBytes = [...l.filenames].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    assert.deepEqual(l.filenames, byBytes);
    assert.equal(l.hiddenSkipped, 5); // .hidden.jpg, .lightly/, ._mac.jpg, sub/.cache/, sub/.j.png
    assert.deepEqual(l.refused, []);
    assert.equal(l.sizes.length, l.filenames.length);
    assert.equal(l.sizes[0], 1);
    assert.ok(l.mtimesNs[0]! > 0n);
    // Stable across runs.
    assert.deepEqual(listImageFolder(root).filenames, l.filenames);
  });

  test("compareCodePoints agrees with UTF-8 byte order", () => {
    const words = ["a", "ab", "", "\uFFFF", "\u{10000}", "\uE000", "\uD7FF", "z", "\u{1F600}x", "\u{1F600}", "é"];
    const a = [...words].sort(compareCodePoints);
    const b = [...words].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    assert.deepEqual(a, b);
  });

  test("symlinks (to files, folders, outside, dangling) are refused, not followed", () => {
    const root = mk();
    const outside = mk();
    write(outside, "secret.png", "x");
    fs.mkdirSync(path.join(outside, "dir"));
    write(outside, "dir/inner.png", "x");
    write(root, "real.png", "x");
    fs.symlinkSync(path.join(outside, "secret.png"), path.join(root, "escape.png"));
    fs.symlinkSync(path.join(root, "real.png"), path.join(root, "inside-link.png"));
    fs.symlinkSync(path.join(outside, "dir"), path.join(root, "linked-dir"));
    fs.symlinkSync(path.join(root, "nowhere.png"), path.join(root, "dangling.jpg"));
    fs.symlinkSync(path.join(outside, "secret.png"), path.join(root, "not-an-image-name"));
    const l = listImageFolder(root);
    assert.deepEqual(l.filenames, ["real.png"]);
    assert.deepEqual(l.refused.map((r) => r.filename), ["dangling.jpg", "escape.png", "inside-link.png", "linked-dir"]);
    for (const r of l.refused) assert.match(r.reason, /symbolic link/);
  });

  test("non-regular files, control characters and non-UTF-8 names are refused with a reason", (t) => {
    const root = mk();
    write(root, "ok.png", "x");
    write(root, "line\nbreak.png", "x");
    fs.writeFileSync(Buffer.concat([Buffer.from(root + "/bad"), Buffer.from([0xff, 0xfe]), Buffer.from(".jpg")]), "x");
    const fifo = spawnSync("mkfifo", [path.join(root, "pipe.jpg")]);
    const l = listImageFolder(root);
    assert.deepEqual(l.filenames, ["ok.png"]);
    const reasons = Object.fromEntries(l.refused.map((r) => [r.filename, r.reason]));
    assert.match(reasons["line\nbreak.png"]!, /control character/);
    assert.match(reasons["bad\u00ff\u00fe.jpg"]!, /not valid UTF-8/);
    if (fifo.status === 0) assert.match(reasons["pipe.jpg"]!, /not a regular file/);
    else t.diagnostic("mkfifo unavailable: FIFO case not checked");
  });

  test("the root: must exist and be a folder; a symlinked root is resolved once", () => {
    const root = mk();
    write(root, "imgs/a.png", "x");
    assert.throws(() => listImageFolder(path.join(root, "missing")), /does not exist/);
    assert.throws(() => listImageFolder(path.join(root, "imgs/a.png")), /not a folder/);
    const link = path.join(mk(), "link");
    fs.symlinkSync(path.join(root, "imgs"), link);
    const l = listImageFolder(link);
    assert.equal(l.root, fs.realpathSync(path.join(root, "imgs")));
    assert.deepEqual(l.filenames, ["a.png"]);
  });
});

describe("resolveInside", () => {
  const root = "/data/images";
  test("relative names inside the folder", () => {
    assert.equal(resolveInside(root, "a/b.jpg"), "/data/images/a/b.jpg");
    assert.equal(resolveInside(root, "..a.jpg"), "/data/images/..a.jpg");
  });
  test("names that could leave the folder are refused", () => {
    for (const bad of ["../x.jpg", "a/../../x.jpg", "a/../b.jpg", "/etc/passwd", "a//b.jpg", "./a.jpg", "a/.", "", "a\\..\\b.jpg", "a\u0000.jpg"]) {
      assert.throws(() => resolveInside(root, bad), PathRefused, bad);
    }
  });
});

describe("reading refuses what changed after listing", () => {
  test("a file swapped for a symlink (to outside) before decoding is refused, the run goes on", async () => {
    const root = mk();
    const outside = mk();
    write(root, "a.png", await solid("png", 8, 8, [10, 20, 30]));
    write(root, "b.png", await solid("png", 8, 8, [40, 50, 60]));
    write(root, "sub/c.png", await solid("png", 8, 8, [70, 80, 90]));
    write(outside, "secret.png", await solid("png", 8, 8, [1, 2, 3]));
    const listing = listImageFolder(root);
    fs.rmSync(path.join(root, "b.png"));
    fs.symlinkSync(path.join(outside, "secret.png"), path.join(root, "b.png"));
    fs.rmSync(path.join(root, "sub"), { recursive: true });
    fs.mkdirSync(path.join(outside, "sub"));
    write(outside, "sub/c.png", await solid("png", 8, 8, [1, 2, 3]));
    fs.symlinkSync(path.join(outside, "sub"), path.join(root, "sub"));
    const cache = await buildImageCache(root, { cacheDir: mk(), resolution: 4, listing });
    try {
      assert.deepEqual(cache.filenames, ["a.png"]);
      assert.deepEqual(cache.corruptFilenames.map((c) => [c.filename, c.code]), [["b.png", "unreadable"], ["sub/c.png", "unreadable"]]);
      assert.match(cache.corruptFilenames[0]!.reason, /symbolic link/);
      assert.match(cache.corruptFilenames[1]!.reason, /symbolic link/);
    } finally {
      cache.close();
    }
  });
});
