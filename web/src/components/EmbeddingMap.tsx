// The 2-D embedding map on a canvas: every point one small square (tens of thousands draw in a few
// ms), earlier datapool samples blue, this run's selection orange and on top. A grid over screen
// cells finds the point under the mouse; hovering shows its image (the canvas is not redrawn).
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { EmbeddingMap as MapData } from "../api.ts";
import { Thumb } from "./Thumb.tsx";

const H = 420;
const PAD = 12;
const CELL = 8;

export function EmbeddingMap(p: { runId: string; map: MapData }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const box = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(640);
  const [hover, setHover] = useState<{ i: number; x: number; y: number } | null>(null);
  const { n, xy } = p.map;
  const kind = useMemo(() => {
    const k = new Uint8Array(n);
    for (const i of p.map.datapool) k[i] = 1;
    for (const i of p.map.selected) k[i] = 2;
    return k;
  }, [p.map]);

  useEffect(() => {
    const f = (): void => setWidth(Math.max(320, (box.current?.clientWidth ?? 656) - 16)); // the box has 8 px padding
    f();
    addEventListener("resize", f);
    return () => removeEventListener("resize", f);
  }, []);

  // Screen positions and the hover grid for the current size.
  const layout = useMemo(() => {
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (let i = 0; i < n; i++) {
      const x = xy[2 * i]!, y = xy[2 * i + 1]!;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
    const sx = (width - 2 * PAD) / (x1 - x0 || 1);
    const sy = (H - 2 * PAD) / (y1 - y0 || 1);
    const px = new Float32Array(n), py = new Float32Array(n);
    const cols = Math.ceil(width / CELL), rows = Math.ceil(H / CELL);
    const grid = new Map<number, number[]>();
    for (let i = 0; i < n; i++) {
      px[i] = x1 > x0 ? PAD + (xy[2 * i]! - x0) * sx : width / 2;
      py[i] = y1 > y0 ? H - PAD - (xy[2 * i + 1]! - y0) * sy : H / 2;
      const c = Math.min(rows - 1, Math.floor(py[i]! / CELL)) * cols + Math.min(cols - 1, Math.floor(px[i]! / CELL));
      const l = grid.get(c);
      if (l) l.push(i);
      else grid.set(c, [i]);
    }
    return { px, py, grid, cols, rows };
  }, [xy, n, width]);

  useEffect(() => {
    const c = canvas.current;
    if (!c) return;
    const dpr = window.devicePixelRatio || 1;
    c.width = Math.round(width * dpr);
    c.height = Math.round(H * dpr);
    const g = c.getContext("2d")!;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.fillStyle = "#fff";
    g.fillRect(0, 0, width, H);
    const s = n > 20000 ? 1.5 : n > 2000 ? 2.5 : 4;
    const draw = (k: number, color: string, size: number): void => {
      g.fillStyle = color;
      for (let i = 0; i < n; i++) if (kind[i] === k) g.fillRect(layout.px[i]! - size / 2, layout.py[i]! - size / 2, size, size);
    };
    draw(0, "rgba(90,90,90,0.55)", s);
    draw(1, "rgba(31,119,180,0.85)", s + 1);
    draw(2, "#ff7f0e", s + 3);
  }, [layout, kind, width]);

  const onMove = (e: MouseEvent): void => {
    const r = (e.currentTarget as HTMLCanvasElement).getBoundingClientRect();
    const mx = e.clientX - r.left, my = e.clientY - r.top;
    const cx = Math.floor(mx / CELL), cy = Math.floor(my / CELL);
    let best = -1, bd = CELL * CELL * 2.25;
    for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
      const l = layout.grid.get((cy + dy) * layout.cols + cx + dx);
      if (!l || cx + dx < 0 || cx + dx >= layout.cols) continue;
      for (const i of l) {
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
        <span class="muted">PCA of {p.map.d}-d embeddings · axes explain {(100 * p.map.explained[0]).toFixed(1)}% and {(100 * p.map.explained[1]).toFixed(1)}% of the variance</span>
      </div>
      <div class="map-area" style={{ width: `${width}px`, height: `${H}px` }}>
        <canvas ref={canvas} data-testid="embedding-map" role="img" aria-label={`Embedding map: ${n} images as points, ${p.map.selected.length} selected${p.map.datapool.length ? `, ${p.map.datapool.length} from earlier datapool runs` : ""}; the selected images are listed below.`} style={{ width: `${width}px`, height: `${H}px` }} onMouseMove={onMove} onMouseLeave={() => setHover(null)} />
        {hover && <div class="hover-mark" style={{ left: `${hover.x - 6}px`, top: `${hover.y - 6}px` }} />}
        {hover && (
          <div class="tip" data-testid="map-tip" style={{ left: `${hover.x + 190 > width ? hover.x - 182 : hover.x + 12}px`, top: `${Math.min(H - 170, Math.max(0, hover.y - 20))}px` }}>
            <Thumb runId={p.runId} file={p.map.filenames[hover.i]!} size={128} />
            <div class="mono small">{p.map.filenames[hover.i]}</div>
            <div class="small">{kind[hover.i] === 2 ? "selected" : kind[hover.i] === 1 ? "earlier datapool" : "not selected"}</div>
          </div>
        )}
      </div>
    </div>
  );
}
