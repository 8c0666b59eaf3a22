// Colouring the embedding map by a metadata field (web/src/mapColours.ts), without a browser: the
// scale's ends and middle, grey for missing values, rows matched by file name, top-8 categories.
import { test } from "node:test";
import assert from "node:assert/strict";
import { alignField, categoryColours, fieldColours, legendNumber, MISSING, numericColours, rampColour } from "../web/src/mapColours.js";
import { PALETTE } from "../web/src/mapGroups.js";
import { rgba } from "../web/src/mapLayout.js";

test("the scale runs from viridis' dark end to its yellow end, linear between the stops", () => {
  assert.equal(rampColour(0), "#440154");
  assert.equal(rampColour(1), "#fde725");
  assert.equal(rampColour(0.5), "#21918c");
  // Half-way between the first two stops (#440154, #3b528b): the channel means, rounded.
  assert.equal(rampColour(0.125), "#402a70");
  assert.equal(rampColour(-3), "#440154", "clamped below");
  assert.equal(rampColour(7), "#fde725", "clamped above");
});

test("numbers: min dark, max yellow, middle of the range the middle colour, missing and non-numbers grey and counted", () => {
  const c = numericColours("lightly.sharpness", [10, 30, null, 20, "x", 30]);
  assert.equal(c.min, 10);
  assert.equal(c.max, 30);
  assert.equal(c.missing, 2);
  assert.equal(c.colour[0], rgba("#440154"));
  assert.equal(c.colour[1], rgba("#fde725"));
  assert.equal(c.colour[2], rgba(MISSING));
  assert.equal(c.colour[3], rgba(rampColour(128 / 255)), "20 is shade 128 of 256");
  assert.equal(c.colour[4], rgba(MISSING));
  assert.deepEqual([...c.order], [2, 4, 0, 1, 3, 5], "points without a value drawn first, under the coloured ones");
  const flat = numericColours("k", [5, 5]);
  assert.equal(flat.colour[0], rgba(rampColour(128 / 255)), "one value: the middle of the scale");
  const none = numericColours("k", [null]);
  assert.ok(Number.isNaN(none.min) && none.missing === 1);
});

test("categories: the 8 most frequent get their own colour, the rest share 'other', null is grey", () => {
  const values: (string | null)[] = [];
  "abcdefghijk".split("").forEach((ch, k) => { for (let r = 0; r < 20 - k; r++) values.push(ch); }); // a most frequent … k least
  values.push(null, null);
  const c = categoryColours("weather", values);
  assert.deepEqual(c.names, ["a", "b", "c", "d", "e", "f", "g", "h", "other (3 values)"]);
  assert.deepEqual(c.counts, [20, 19, 18, 17, 16, 15, 14, 13, 12 + 11 + 10]);
  assert.deepEqual(c.colours, PALETTE);
  assert.equal(c.missing, 2);
  assert.equal(c.colour[0], rgba(PALETTE[0]!));
  assert.equal(c.colour[values.indexOf("k")], rgba(PALETTE[8]!));
  assert.equal(c.colour[values.length - 1], rgba(MISSING));
  // Few values: each its own colour, no "other"; ties ordered by name.
  assert.deepEqual(categoryColours("b", ["true", "false", "true", "false"]).names, ["false", "true"]);
});

test("a field's rows are matched to the map's points by file name; a file without a row has no value", () => {
  const md = { filenames: ["b.png", "a.png"], fields: [{ key: "n", kind: "numeric" as const, values: [2, 1] }, { key: "s", kind: "categorical" as const, values: ["x", null] }] };
  assert.deepEqual(alignField(["a.png", "b.png", "c.png"], md, md.fields[0]!), [1, 2, null]);
  const f = fieldColours(["a.png", "b.png", "c.png"], md, "s")!;
  assert.equal(f.kind, "categorical");
  assert.equal(f.missing, 2);
  assert.equal(fieldColours(["a.png"], md, "absent"), null);
  assert.deepEqual([legendNumber(12), legendNumber(0.123456), legendNumber(-1234.5678)], ["12", "0.1235", "-1235"]);
});

test("100,000 points are coloured in well under a frame budget's worth of work", () => {
  const n = 100_000;
  const values = Array.from({ length: n }, (_, i) => (i % 97 === 0 ? null : Math.sin(i)));
  const t0 = performance.now();
  const c = numericColours("k", values);
  const ms = performance.now() - t0;
  assert.equal(c.missing, Math.ceil(n / 97));
  assert.ok(ms < 500, `${ms.toFixed(0)} ms`);
});
