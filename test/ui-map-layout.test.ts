// The embedding map's layout, hover lookup and pixel drawing (web/src/mapLayout.ts), without a browser.
import { test } from "node:test";
import assert from "node:assert/strict";
import { drawSquares, mapLayout, nearestPoint, rgba } from "../web/src/mapLayout.js";

test("one scale for both axes, centred: a thin axis stays thin", () => {
  // x spans 20 units, y 2: in a 1000 × 420 box with 12 px padding the scale is 976 / 20 = 48.8 px per unit.
  const xy = [-10, -1, 10, 1, 0, 0];
  const l = mapLayout(xy, 3, 1000, 420, 12, 8);
  assert.deepEqual([...l.px], [12, 988, 500]);
  const sc = 48.8, top = (420 - 2 * sc) / 2;
  [420 - top, top, 210].forEach((y, i) => assert.ok(Math.abs(l.py[i]! - y) < 1e-3, `py[${i}] ${l.py[i]} vs ${y}`));
  // A tall, narrow cloud is limited by the height instead.
  const t = mapLayout([0, -5, 1, 5], 2, 1000, 420, 12, 8);
  assert.ok(Math.abs(t.py[0]! - t.py[1]! - 396) < 1e-3 && Math.abs(t.px[1]! - t.px[0]! - 39.6) < 1e-3);
  // One point, or all on one spot: the middle of the box.
  assert.deepEqual([...mapLayout([3, 4], 1, 100, 50, 5, 8).px, ...mapLayout([3, 4], 1, 100, 50, 5, 8).py], [50, 25]);
});

test("the hover lookup finds the nearest point within 1.5 cells, as a search over every point would", () => {
  let s = 9;
  const r = (): number => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  const n = 5000;
  const xy = Array.from({ length: 2 * n }, () => r() * 2 - 1);
  const l = mapLayout(xy, n, 640, 420, 12, 8);
  let found = 0;
  for (let k = 0; k < 2000; k++) {
    const mx = r() * 640, my = r() * 420;
    let best = -1, bd = 8 * 8 * 2.25;
    for (let i = 0; i < n; i++) {
      const d = (l.px[i]! - mx) ** 2 + (l.py[i]! - my) ** 2;
      if (d < bd) (bd = d), (best = i);
    }
    const got = nearestPoint(l, mx, my);
    if (got !== best) assert.equal((l.px[got]! - mx) ** 2 + (l.py[got]! - my) ** 2, bd, `at ${mx},${my}: ${got} vs ${best}`);
    if (best >= 0) found++;
  }
  assert.ok(found > 1000, `${found} lookups near a point`);
  assert.equal(nearestPoint(mapLayout([0, 0, 1, 1], 2, 200, 200, 12, 8), 100, 100), -1, "nothing near the middle");
});

test("squares are written into the pixels in the order given, later ones on top, clipped to the image", () => {
  const l = mapLayout([0, 0, 1, 0], 2, 20, 10, 2, 8); // a flat cloud: the scale comes from x alone, points at (2, 5) and (18, 5)
  assert.deepEqual([...l.px, ...l.py], [2, 18, 5, 5]);
  const red = rgba("#ff0000"), blue = rgba("#0000ff");
  assert.equal(red, 0xff0000ff);
  const size = (i: number): number => (i === 0 ? 6 : 40); // the blue square covers the whole image
  const draw = (order: number[]): [number, number] => {
    const buf = new Uint32Array(20 * 10).fill(0xffffffff);
    drawSquares(buf, 20, 10, 1, l, order, (i) => (i === 0 ? red : blue), size);
    return [buf.filter((v) => v === red).length, buf.filter((v) => v === blue).length];
  };
  assert.deepEqual(draw([1, 0]), [30, 170], "red on top: columns 0..4 (clipped at 0), rows 2..7");
  assert.deepEqual(draw([0, 1]), [0, 200], "blue drawn last covers it");
});
