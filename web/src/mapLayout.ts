// Where the embedding map's points go on screen, which one is under the mouse, and drawing them as
// pixels: pure functions over typed arrays (100,000 points in a few ms), kept out of the component.

export interface MapLayout {
  px: Float32Array;
  py: Float32Array;
  /** The hover grid as a counting sort: the points of cell c are order[start[c] .. start[c + 1]). */
  start: Int32Array;
  order: Int32Array;
  cols: number;
  rows: number;
  cell: number;
}

/**
 * One scale for both axes, the data centred in the box (pad px kept free at the tighter side):
 * PCA's second axis usually explains far less variance than the first, and stretching each axis to
 * the box would hide that.
 */
export function mapLayout(xy: ArrayLike<number>, n: number, width: number, height: number, pad: number, cellPx: number): MapLayout {
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (let i = 0; i < n; i++) {
    const x = xy[2 * i]!, y = xy[2 * i + 1]!;
    if (x < x0) x0 = x;
    if (x > x1) x1 = x;
    if (y < y0) y0 = y;
    if (y > y1) y1 = y;
  }
  // An axis with no spread (all points on one line) does not limit the scale.
  const sx = x1 > x0 ? (width - 2 * pad) / (x1 - x0) : Infinity, sy = y1 > y0 ? (height - 2 * pad) / (y1 - y0) : Infinity;
  const sc = Math.min(sx, sy) === Infinity ? 1 : Math.min(sx, sy);
  const ox = (width - (x1 - x0) * sc) / 2, oy = (height - (y1 - y0) * sc) / 2;
  const px = new Float32Array(n), py = new Float32Array(n);
  const cols = Math.ceil(width / cellPx), rows = Math.ceil(height / cellPx);
  // Typed arrays, not an array per cell: no garbage for 100,000 points.
  const cellOf = new Int32Array(n);
  const start = new Int32Array(cols * rows + 1);
  for (let i = 0; i < n; i++) {
    px[i] = x1 > x0 ? ox + (xy[2 * i]! - x0) * sc : width / 2;
    py[i] = y1 > y0 ? height - oy - (xy[2 * i + 1]! - y0) * sc : height / 2;
    const c = Math.max(0, Math.min(rows - 1, Math.floor(py[i]! / cellPx))) * cols + Math.max(0, Math.min(cols - 1, Math.floor(px[i]! / cellPx)));
    cellOf[i] = c;
    start[c + 1]!++;
  }
  for (let c = 0; c < cols * rows; c++) start[c + 1]! += start[c]!;
  const fill = start.slice(0, cols * rows);
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[fill[cellOf[i]!]!++] = i;
  return { px, py, start, order, cols, rows, cell: cellPx };
}

/**
 * The point nearest to (mx, my) within 1.5 cells; -1 if none. A point that near can sit two cells
 * away (the mouse at a cell's edge), so the 5×5 cells around the mouse are searched.
 */
export function nearestPoint(l: MapLayout, mx: number, my: number): number {
  const cx = Math.floor(mx / l.cell), cy = Math.floor(my / l.cell);
  let best = -1, bd = l.cell * l.cell * 2.25;
  for (let dy = -2; dy <= 2; dy++) for (let dx = -2; dx <= 2; dx++) {
    if (cx + dx < 0 || cx + dx >= l.cols || cy + dy < 0 || cy + dy >= l.rows) continue;
    const c = (cy + dy) * l.cols + cx + dx;
    for (let k = l.start[c]!; k < l.start[c + 1]!; k++) {
      const i = l.order[k]!;
      const d = (l.px[i]! - mx) ** 2 + (l.py[i]! - my) ** 2;
      if (d < bd) (bd = d), (best = i);
    }
  }
  return best;
}

/** "#rrggbb" as an opaque pixel of a little-endian Uint32Array over RGBA bytes. */
export const rgba = (hex: string): number => (0xff000000 | (parseInt(hex.slice(5, 7), 16) << 16) | (parseInt(hex.slice(3, 5), 16) << 8) | parseInt(hex.slice(1, 3), 16)) >>> 0;

/**
 * Squares written straight into the pixels (canvas paths of 100,000 rectangles take hundreds of
 * ms), in the order given: later squares overwrite earlier ones.
 */
export function drawSquares(buf: Uint32Array, w: number, h: number, dpr: number, l: MapLayout, order: ArrayLike<number>, color: (i: number) => number, size: (i: number) => number): void {
  for (let k = 0; k < order.length; k++) {
    const i = order[k]!, half = (size(i) * dpr) / 2, c = color(i);
    const x0 = Math.max(0, Math.round(l.px[i]! * dpr - half)), x1 = Math.min(w, Math.round(l.px[i]! * dpr + half));
    const y0 = Math.max(0, Math.round(l.py[i]! * dpr - half)), y1 = Math.min(h, Math.round(l.py[i]! * dpr + half));
    for (let y = y0; y < y1; y++) buf.fill(c, y * w + x0, y * w + x1);
  }
}
