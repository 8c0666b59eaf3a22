// The 2-D embedding map on a canvas: every point one small square (tens of thousands draw in a few
// ms), earlier datapool samples blue, this run's selection orange and on top. A grid over screen
// cells finds the point under the mouse; hovering shows its image (the canvas is not redrawn).
// Colour by selection (default) or by folder; drag a lasso around points to see their images.
import { useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import type { EmbeddingMap as MapData } from "../api.ts";
import { folderGroups, insidePolygon, PALETTE } from "../mapGroups.ts";
import { Thumb } from "./Thumb.tsx";

const H = 420;
const PAD = 12;
const CELL = 8;
const LASSO_MAX = 60;

/** "#rrggbb" as an opaque pixel of a little-endian Uint32Array over RGBA bytes. */
const rgba = (hex: string): number => (0xff000000 | (parseInt(hex.slice(5, 7), 16) << 16) | (parseInt(hex.slice(3, 5), 16) << 8) | parseInt(hex.slice(1, 3), 16)) >>> 0;

/** The tooltip in the map's corner across from the point, so it never covers the points near it. */
function tipPlace(h: { x: number; y: number }, width: number): Record<string, string> {
  return { [h.x < width / 2 ? "right" : "left"]: "4px", [h.y < H / 2 ? "bottom" : "top"]: "4px" };
}

export function EmbeddingMap(p: { runId: string; map: MapData }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const box = useRef<HTMLDivElement>(null);
  // 0 until the box is measured: the points are laid out and drawn once, at the real width.
  const [width, setWidth] = useState(0);
  const [hover, setHover] = useState<{ i: number; x: number; y: number } | null>(null);
  const [colourBy, setColourBy] = useState<"selection" | "folder">("selection");
  const [lasso, setLasso] = useState<{ x: number; y: number }[] | null>(null);
  const [lassoed, setLassoed] = useState<number[] | null>(null);
  const folders = useMemo(() => (colourBy === "folder" ? folderGroups(p.map.filenames) : null), [p.map, colourBy]);
  const { n, xy } = p.map;
  const pct = (k: 0 | 1): string => `${(100 * p.map.explained[k]).toFixed(1)} %`;
  const axes = `horizontal PC 1: ${pct(0)} of the variance, vertical PC 2: ${pct(1)}`;
  const kind = useMemo(() => {
    const k = new Uint8Array(n);
    for (const i of p.map.datapool) k[i] = 1;
    for (const i of p.map.selected) k[i] = 2;
    return k;
  }, [p.map]);

  useLayoutEffect(() => {
    const f = (): void => setWidth(Math.max(320, (box.current?.clientWidth ?? 656) - 16)); // the box has 8 px padding
    f();
    addEventListener("resize", f);
    return () => removeEventListener("resize", f);
  }, []);

  // Screen positions and the hover grid for the current size.
  const layout = useMemo(() => {
    if (width === 0) return null;
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (let i = 0; i < n; i++) {
      const x = xy[2 * i]!, y = xy[2 * i + 1]!;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
    // One scale for both axes: PCA's second axis usually explains far less variance than the first,
    // and stretching each to the box would hide that. The data is centred in the box.
    const sc = Math.min((width - 2 * PAD) / (x1 - x0 || 1), (H - 2 * PAD) / (y1 - y0 || 1));
    const ox = (width - (x1 - x0) * sc) / 2, oy = (H - (y1 - y0) * sc) / 2;
    const px = new Float32Array(n), py = new Float32Array(n);
    const cols = Math.ceil(width / CELL), rows = Math.ceil(H / CELL);
    // The hover grid as a counting sort (typed arrays: no per-cell array for 100 000 points):
    // the points of cell c are order[start[c] .. start[c + 1]).
    const cell = new Int32Array(n);
    const start = new Int32Array(cols * rows + 1);
    for (let i = 0; i < n; i++) {
      px[i] = x1 > x0 ? ox + (xy[2 * i]! - x0) * sc : width / 2;
      py[i] = y1 > y0 ? H - oy - (xy[2 * i + 1]! - y0) * sc : H / 2;
      const c = Math.max(0, Math.min(rows - 1, Math.floor(py[i]! / CELL))) * cols + Math.max(0, Math.min(cols - 1, Math.floor(px[i]! / CELL)));
      cell[i] = c;
      start[c + 1]!++;
    }
    for (let c = 0; c < cols * rows; c++) start[c + 1]! += start[c]!;
    const fill = start.slice(0, cols * rows);
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[fill[cell[i]!]!++] = i;
    return { px, py, start, order, cols, rows };
  }, [xy, n, width]);

  // Drawn before the browser paints (a layout effect), not a frame later.
  useLayoutEffect(() => {
    const c = canvas.current;
    if (!c || !layout) return;
    const dpr = window.devicePixelRatio || 1;
    c.width = Math.round(width * dpr);
    c.height = Math.round(H * dpr);
    const g = c.getContext("2d")!;
    // Points written straight into the pixels (100 000 squares in a few ms; canvas paths of that
    // many rectangles take hundreds). Later kinds overwrite earlier ones: the selection is on top.
    const img = g.createImageData(c.width, c.height);
    const buf = new Uint32Array(img.data.buffer);
    buf.fill(0xffffffff);
    const W = c.width, HH = c.height;
    const s = n > 20000 ? 2 : n > 2000 ? 3 : 4;
    const square = (i: number, color: number, size: number): void => {
      const half = (size * dpr) / 2;
      const x0 = Math.max(0, Math.round(layout.px[i]! * dpr - half)), x1 = Math.min(W, Math.round(layout.px[i]! * dpr + half));
      const y0 = Math.max(0, Math.round(layout.py[i]! * dpr - half)), y1 = Math.min(HH, Math.round(layout.py[i]! * dpr + half));
      for (let y = y0; y < y1; y++) buf.fill(color, y * W + x0, y * W + x1);
    };
    if (folders) {
      const colors = PALETTE.map(rgba);
      for (let i = 0; i < n; i++) square(i, colors[folders.group[i]!]!, s + 1);
    } else {
      // Grey and blue as their translucent colours look on white; orange exact (#ff7f0e).
      const colors = [rgba("#a4a4a4"), rgba("#418bbf"), rgba("#ff7f0e")];
      const sizes = [s, s + 1, s + 3];
      for (let k = 0; k < 3; k++) for (let i = 0; i < n; i++) if (kind[i] === k) square(i, colors[k]!, sizes[k]!);
    }
    g.putImageData(img, 0, 0);
    performance.mark("winnow-map-drawn"); // the browser test's first-render time
  }, [layout, kind, width, folders]);

  const local = (e: MouseEvent): { x: number; y: number } => {
    const r = (e.currentTarget as HTMLCanvasElement).getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  };
  // Lasso: press, drag around points, release.
  const onDown = (e: PointerEvent): void => {
    if (e.button !== 0) return;
    (e.currentTarget as HTMLCanvasElement).setPointerCapture?.(e.pointerId);
    setHover(null);
    setLasso([local(e)]);
  };
  const onUp = (): void => {
    if (layout && lasso && lasso.length >= 3) setLassoed(insidePolygon(layout.px, layout.py, lasso));
    setLasso(null);
  };
  const onMove = (e: MouseEvent): void => {
    if (!layout) return;
    if (lasso) {
      const q = local(e), last = lasso[lasso.length - 1]!;
      if ((q.x - last.x) ** 2 + (q.y - last.y) ** 2 >= 9) setLasso([...lasso, q]);
      return;
    }
    const { x: mx, y: my } = local(e);
    const cx = Math.floor(mx / CELL), cy = Math.floor(my / CELL);
    let best = -1, bd = CELL * CELL * 2.25;
    for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
      if (cx + dx < 0 || cx + dx >= layout.cols || cy + dy < 0 || cy + dy >= layout.rows) continue;
      const c = (cy + dy) * layout.cols + cx + dx;
      for (let k = layout.start[c]!; k < layout.start[c + 1]!; k++) {
        const i = layout.order[k]!;
        const d = (layout.px[i]! - mx) ** 2 + (layout.py[i]! - my) ** 2;
        if (d < bd) (bd = d), (best = i);
      }
    }
    setHover(best < 0 ? null : { i: best, x: layout.px[best]!, y: layout.py[best]! });
  };

  return (
    <div class="map" ref={box}>
      <div class="legend">
        <span><i class="dot all" /> all {n}</span>
        {p.map.datapool.length > 0 && <span><i class="dot pool" /> earlier datapool {p.map.datapool.length}</span>}
        <span><i class="dot sel" /> selected {p.map.selected.length}</span>
        <label class="small">Colour by{" "}
          <select name="colour-by" value={colourBy} onChange={(e) => setColourBy((e.target as HTMLSelectElement).value as "selection" | "folder")}>
            <option value="selection">selection</option>
            <option value="folder">folder</option>
          </select>
        </label>
        {folders && folders.names.map((name, gi) => <span key={name} data-testid="folder-legend"><i class="dot" style={{ background: PALETTE[gi] }} /> {name} {folders.counts[gi]}</span>)}
        <span class="muted" data-testid="map-axes">PCA of {p.map.d}-d embeddings · {axes} · one scale for both axes</span>
      </div>
      <div class="map-area" style={{ width: `${width}px`, height: `${H}px` }}>
        <canvas ref={canvas} data-testid="embedding-map" role="img" aria-label={`Embedding map: ${n} images as points, ${p.map.selected.length} selected${p.map.datapool.length ? `, ${p.map.datapool.length} from earlier datapool runs` : ""}; ${axes}; the selected images are listed below.`} style={{ width: `${width}px`, height: `${H}px` }} onMouseMove={onMove} onMouseLeave={() => setHover(null)} onPointerDown={onDown} onPointerUp={onUp} />
        {lasso && (
          <svg class="lasso" width={width} height={H} aria-hidden="true">
            <polygon points={lasso.map((q) => `${q.x},${q.y}`).join(" ")} />
          </svg>
        )}
        {hover && <div class="hover-mark" style={{ left: `${hover.x - 6}px`, top: `${hover.y - 6}px` }} />}
        {hover && (
          <div class="tip" data-testid="map-tip" style={tipPlace(hover, width)}>
            <Thumb runId={p.runId} file={p.map.filenames[hover.i]!} size={128} />
            <div class="mono small">{p.map.filenames[hover.i]}</div>
            <div class="small">{kind[hover.i] === 2 ? "selected" : kind[hover.i] === 1 ? "earlier datapool" : "not selected"}</div>
          </div>
        )}
      </div>
      <p class="small muted">Drag around points to see their images.</p>
      {lassoed && (
        <div data-testid="lasso-result">
          <div class="row">
            <b>{lassoed.length} image(s) in the lasso</b>
            {lassoed.length > LASSO_MAX && <span class="muted">first {LASSO_MAX} shown</span>}
            <button type="button" onClick={() => setLassoed(null)}>Clear</button>
          </div>
          <div class="grid">
            {lassoed.slice(0, LASSO_MAX).map((i) => (
              <figure key={i}>
                <Thumb runId={p.runId} file={p.map.filenames[i]!} size={128} />
                <figcaption class="mono small">{p.map.filenames[i]}{kind[i] === 2 ? " · selected" : ""}</figcaption>
              </figure>
            ))}
          </div>
        </div>
      )}
    </div>
  );
}
