// The embedding map's colouring by folder and its lasso hit-test (web/src/mapGroups.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { folderGroups, insidePolygon } from "../web/src/mapGroups.js";

test("folder groups: largest folders first, top level as '.', crops by their image, the rest as other", () => {
  const g = folderGroups(["a/1.png", "a/2.png", "b/1.png", "top.png", "a/3.png#2", "b/c/1.png"]);
  assert.deepEqual(g.names, ["a", ".", "b", "b/c"]);
  assert.deepEqual(g.counts, [3, 1, 1, 1]);
  assert.deepEqual([...g.group], [0, 0, 2, 1, 0, 3]);
  const many = Array.from({ length: 12 }, (_, k) => Array.from({ length: 12 - k }, (_, i) => `f${String(k).padStart(2, "0")}/${i}.png`)).flat();
  const m = folderGroups(many);
  assert.equal(m.names.length, 9);
  assert.equal(m.names[8], "other (4 folders)");
  assert.equal(m.counts[8], 4 + 3 + 2 + 1);
  assert.equal(m.group[many.indexOf("f11/0.png")], 8);
});

test("lasso: points inside a concave polygon, not those in its notch or outside", () => {
  const pts = [[1, 1], [5, 1], [5, 5], [9, 9], [3, 8], [-1, 3]];
  const px = Float32Array.from(pts.map((p) => p[0]!)), py = Float32Array.from(pts.map((p) => p[1]!));
  // A "U": the notch between x 4..6 above y 3 is outside.
  const u = [{ x: 0, y: 0 }, { x: 10, y: 0 }, { x: 10, y: 10 }, { x: 6, y: 10 }, { x: 6, y: 3 }, { x: 4, y: 3 }, { x: 4, y: 10 }, { x: 0, y: 10 }];
  assert.deepEqual(insidePolygon(px, py, u), [0, 1, 3, 4]);
  assert.deepEqual(insidePolygon(px, py, u.slice(0, 2)), []);
});
