// The 2-D embedding map on a canvas: every point one small square (tens of thousands draw in a few
// ms), earlier datapool samples blue, this run's selection orange and on top. A grid over screen
// cells finds the point under the mouse; hovering shows its image (the canvas is not redrawn).
// Colour by selection (default), folder or a metadata field (the run's map_metadata.json: numbers on
// a continuous scale, strings/booleans as discrete colours, no value grey); drag a lasso around
// points to see their images.
import { useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import type { EmbeddingMap as MapData } from "../api.ts";
import { folderGroups, insidePolygon, PALETTE } from "../mapGroups.ts";
import { drawSquares, mapLayout, nearestPoint, rgba, type MapLayout } from "../mapLayout.ts";
import { fieldColours, type CategoryColours, type MapMetadata, type NumericColours } from "../mapColours.ts";
import { MapLegend, type ColourBy } from "./MapLegend.tsx";
import { Thumb } from "./Thumb.tsx";

const H = 420;
const PAD = 12;
const CELL = 8;
const LASSO_MAX = 60;

/** The tooltip in the map's corner across from the point, so it never covers the points near it. */
function tipPlace(h: { x: number; y: number }, width: number): Record<string, string> {
  return { [h.x < width / 2 ? "right" : "left"]: "4px", [h.y < H / 2 ? "bottom" : "top"]: "4px" };
}

export function EmbeddingMap(p: { runId: string; map: MapData; meta?: MapMetadata | null }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const box = useRef<HTMLDivElement>(null);
  // 0 until the box is measured: the points are laid out and drawn once, at the real width.
  const [width, setWidth] = useState(0);
  const [hover, setHover] = useState<{ i: number; x: number; y: number } | null>(null);
  const [colourBy, setColourBy] = useState<ColourBy>("selection");
  const [lasso, setLasso] = useState<{ x: number; y: number }[] | null>(null);
  const [lassoed, setLassoed] = useState<number[] | null>(null);
  const { n, xy } = p.map;
  const folders = useMemo(() => (colourBy === "folder" ? folderGroups(p.map.filenames) : null), [p.map, colourBy]);
  const field = useMemo(() => (colourBy.startsWith("field:") && p.meta ? fieldColours(p.map.filenames, p.meta, colourBy.slice(6)) : null), [p.map, p.meta, colourBy]);
  const pct = (k: 0 | 1): string => `${(100 * p.map.explained[k]).toFixed(1)} %`;
  const axes = `horizontal PC 1: ${pct(0)} of the variance, vertical PC 2: ${pct(1)}`;
  const kind = useMemo(() => {
    const k = new Uint8Array(n);
    for (const i of p.map.datapool) k[i] = 1;
    for (const i of p.map.selected) k[i] = 2;
    return k;
  }, [p.map]);
  const style = useMemo(() => pointStyle(kind, folders, field), [kind, folders, field]);

  useLayoutEffect(() => {
    const f = (): void => setWidth(Math.max(320, (box.current?.clientWidth ?? 656) - 16)); // the box has 8 px padding
    f();
    addEventListener("resize", f);
    return () => removeEventListener("resize", f);
  }, []);

  // Screen positions and the hover grid for the current size.
  const layout = useMemo(() => (width === 0 ? null : mapLayout(xy, n, width, H, PAD, CELL)), [xy, n, width]);

  // Drawn before the browser paints (a layout effect), not a frame later.
  useLayoutEffect(() => {
    if (canvas.current && layout) paint(canvas.current, width, layout, style);
  }, [layout, width, style]);

  const local = (e: MouseEvent): { x: number; y: number } => {
    const r = (e.currentTarget as HTMLCanvasElement).getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  };
  // Lasso: press, drag around points, release. Pointer events, so a finger draws it too (touch-action: none).
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
  const onMove = (e: PointerEvent): void => {
    if (!layout) return;
    if (lasso) {
      const q = local(e), last = lasso[lasso.length - 1]!;
      if ((q.x - last.x) ** 2 + (q.y - last.y) ** 2 >= 9) setLasso([...lasso, q]);
      return;
    }
    const { x: mx, y: my } = local(e);
    const best = nearestPoint(layout, mx, my);
    setHover(best < 0 ? null : { i: best, x: layout.px[best]!, y: layout.py[best]! });
  };

  return (
    <div class="map" ref={box}>
      <MapLegend map={p.map} meta={p.meta ?? null} colourBy={colourBy} onColourBy={setColourBy} folders={folders} field={field} axes={axes} />
      <div class="map-area" style={{ width: `${width}px`, height: `${H}px` }}>
        <canvas ref={canvas} data-testid="embedding-map" role="img" aria-label={`Embedding map: ${n} images as points, ${p.map.selected.length} selected${p.map.datapool.length ? `, ${p.map.datapool.length} from earlier datapool runs` : ""}; ${axes}${field ? `; coloured by ${field.key}` : ""}; the selected images are listed below.`} style={{ width: `${width}px`, height: `${H}px` }} onPointerMove={onMove} onPointerLeave={() => setHover(null)} onPointerDown={onDown} onPointerUp={onUp} />
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
            {field && <div class="small" data-testid="map-tip-value">{field.key}: {field.values[hover.i] === null ? "no value" : String(field.values[hover.i])}</div>}
          </div>
        )}
      </div>
      <p class="small muted">Drag (or draw with a finger) around points to see their images.</p>
      {lassoed && <LassoList runId={p.runId} map={p.map} kind={kind} points={lassoed} onClear={() => setLassoed(null)} />}
    </div>
  );
}

interface PointStyle {
  order: ArrayLike<number>;
  colour: (i: number) => number;
  size: (i: number) => number;
}

/** Drawing order, colour and size of each point for the chosen colouring. */
function pointStyle(kind: Uint8Array, folders: ReturnType<typeof folderGroups> | null, field: NumericColours | CategoryColours | null): PointStyle {
  const n = kind.length, s = n > 20000 ? 2 : n > 2000 ? 3 : 4;
  // Points without the field first (fieldColours' order), so the coloured ones are drawn over them.
  if (field) return { order: field.order, colour: (i) => field.colour[i]!, size: () => s + 1 };
  if (folders) {
    const colors = PALETTE.map(rgba);
    return { order: new Int32Array(n).map((_, i) => i), colour: (i) => colors[folders.group[i]!]!, size: () => s + 1 };
  }
  // By kind: grey, then blue, then orange on top. Grey and blue as their translucent colours look on white; orange exact (#ff7f0e).
  const order = new Int32Array(n);
  let w = 0;
  for (let k = 0; k < 3; k++) for (let i = 0; i < n; i++) if (kind[i] === k) order[w++] = i;
  const colors = [rgba("#a4a4a4"), rgba("#418bbf"), rgba("#ff7f0e")], sizes = [s, s + 1, s + 3];
  return { order, colour: (i) => colors[kind[i]!]!, size: (i) => sizes[kind[i]!]! };
}

/** The points written into the canvas's pixels at its device resolution. */
function paint(c: HTMLCanvasElement, width: number, layout: MapLayout, st: PointStyle): void {
  const dpr = window.devicePixelRatio || 1;
  c.width = Math.round(width * dpr);
  c.height = Math.round(H * dpr);
  const g = c.getContext("2d")!;
  const img = g.createImageData(c.width, c.height);
  const buf = new Uint32Array(img.data.buffer);
  buf.fill(0xffffffff);
  drawSquares(buf, c.width, c.height, dpr, layout, st.order, st.colour, st.size);
  g.putImageData(img, 0, 0);
  performance.mark("winnow-map-drawn"); // the browser test's first-render time
}

/** The images inside the lasso, with their thumbnails (the first LASSO_MAX). */
function LassoList(p: { runId: string; map: MapData; kind: Uint8Array; points: number[]; onClear: () => void }) {
  return (
    <div data-testid="lasso-result">
      <div class="row">
        <b>{p.points.length} image(s) in the lasso</b>
        {p.points.length > LASSO_MAX && <span class="muted">first {LASSO_MAX} shown</span>}
        <button type="button" onClick={p.onClear}>Clear</button>
      </div>
      <div class="grid">
        {p.points.slice(0, LASSO_MAX).map((i) => (
          <figure key={i}>
            <Thumb runId={p.runId} file={p.map.filenames[i]!} size={128} />
            <figcaption class="mono small">{p.map.filenames[i]}{p.kind[i] === 2 ? " · selected" : ""}</figcaption>
          </figure>
        ))}
      </div>
    </div>
  );
}
