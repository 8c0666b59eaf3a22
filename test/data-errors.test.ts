// The data layer's errors share WinnowError's code and `where`, keeping their names, messages and fields.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { listImageFolder, resolveInside, PathRefused } from "../src/data/folder.js";
import { decodeToSquare, ImageDecodeError } from "../src/data/decode.js";
import { FileReadError, readRegularText } from "../src/util/regular-file.js";
import { WinnowError } from "../src/util/errors.js";
import { buildImageCache } from "../src/data/cache.js";
import { solid, tempDir, write } from "./helpers/data-images.js";

const root = tempDir();
after(() => fs.rmSync(root, { recursive: true, force: true }));

test("PathRefused: forbidden, where = the name, reason and message kept", () => {
  assert.throws(() => resolveInside(root, "../x.png"), (e: unknown) => {
    assert.ok(e instanceof PathRefused && e instanceof WinnowError);
    assert.equal(e.name, "PathRefused");
    assert.equal(e.code, "forbidden");
    assert.equal(e.where, "../x.png");
    assert.equal(e.filename, "../x.png");
    assert.equal(e.message, `"../x.png": ${e.reason}`);
    return true;
  });
});

test("ImageDecodeError: a WinnowError whose code is the decode failure", async () => {
  await assert.rejects(decodeToSquare(Buffer.from("not an image"), 4, { maxPixels: 1e6, autoOrient: false, failOn: "error", kernel: "lanczos3" }), (e: unknown) => {
    assert.ok(e instanceof ImageDecodeError && e instanceof WinnowError);
    assert.equal(e.name, "ImageDecodeError");
    assert.equal(e.code, "unsupported");
    return true;
  });
});

test("listImageFolder: a missing root is not_found, a file is invalid_input, both naming the path", () => {
  const missing = path.join(root, "missing");
  assert.throws(() => listImageFolder(missing), (e: unknown) => e instanceof WinnowError && e.code === "not_found" && e.where === missing && /does not exist/.test(e.message));
  const file = path.join(root, "f.txt");
  fs.writeFileSync(file, "x");
  assert.throws(() => listImageFolder(file), (e: unknown) => e instanceof WinnowError && e.code === "invalid_input" && e.where === file && /not a folder/.test(e.message));
});

test("FileReadError: not_found for a missing file, invalid_input for a folder; where = the file", () => {
  const missing = path.join(root, "none.json");
  assert.throws(() => readRegularText(missing, "some.field"), (e: unknown) => e instanceof FileReadError && e.name === "FileReadError" && e.code === "not_found" && e.where === missing && e.message === `some.field: ${missing} cannot be opened (ENOENT)`);
  assert.throws(() => readRegularText(root, "some.field"), (e: unknown) => e instanceof FileReadError && e.code === "invalid_input" && e.where === root && /is not a regular file/.test(e.message));
});

test("a cache held by a live builder: WinnowError busy naming the cache folder, after the timeout", async () => {
  const images = path.join(root, "lock-images");
  fs.mkdirSync(images);
  write(images, "a.png", await solid("png", 5, 5, [1, 2, 3]));
  const cacheDir = path.join(root, "lock-cache");
  const first = await buildImageCache(images, { cacheDir, resolution: 4 });
  first.close();
  // This process is alive, so its lock is not stale.
  fs.writeFileSync(path.join(first.dir, "lock"), JSON.stringify({ pid: process.pid, host: os.hostname() }));
  try {
    await assert.rejects(buildImageCache(images, { cacheDir, resolution: 4, lockTimeoutMs: 250 }), (e: unknown) => e instanceof WinnowError && e.code === "busy" && e.where === first.dir && /being built by another process/.test(e.message));
  } finally {
    fs.rmSync(path.join(first.dir, "lock"), { force: true });
  }
});
