// What the embedding map can colour by, and lasso hit-testing: pure functions over the map's data.

/** Up to 9 distinct colours (Tableau 10 without its orange, which marks the selection). */
export const PALETTE = ["#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"];

/**
 * Each file's folder ("." for the top level) as a group index: the 8 largest folders get their own
 * colour, the rest share "other" (index 8).
 */
export function folderGroups(filenames: readonly string[]): { group: Uint8Array; names: string[]; counts: number[] } {
  const folderOf = (f: string): string => {
    const k = f.replace(/#\d+$/, "").lastIndexOf("/");
    return k < 0 ? "." : f.slice(0, k);
  };
  const count = new Map<string, number>();
  for (const f of filenames) count.set(folderOf(f), (count.get(folderOf(f)) ?? 0) + 1);
  const ranked = [...count.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const top = ranked.slice(0, ranked.length > 9 ? 8 : 9);
  const index = new Map(top.map(([name], i) => [name, i]));
  const names = top.map(([name]) => name);
  const counts = top.map(([, c]) => c);
  if (ranked.length > 9) {
    names.push(`other (${ranked.length - 8} folders)`);
    counts.push(ranked.slice(8).reduce((s, [, c]) => s + c, 0));
  }
  const group = new Uint8Array(filenames.length);
  filenames.forEach((f, i) => (group[i] = index.get(folderOf(f)) ?? 8));
  return { group, names, counts };
}

/** Indices of the points inside the polygon (even-odd rule). */
export function insidePolygon(px: Float32Array, py: Float32Array, poly: readonly { x: number; y: number }[]): number[] {
  if (poly.length < 3) return [];
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const p of poly) (x0 = Math.min(x0, p.x)), (x1 = Math.max(x1, p.x)), (y0 = Math.min(y0, p.y)), (y1 = Math.max(y1, p.y));
  const out: number[] = [];
  for (let i = 0; i < px.length; i++) {
    const x = px[i]!, y = py[i]!;
    if (x < x0 || x > x1 || y < y0 || y > y1) continue;
    let inside = false;
    for (let a = 0, b = poly.length - 1; a < poly.length; b = a++) {
      const pa = poly[a]!, pb = poly[b]!;
      if (pa.y > y !== pb.y > y && x < ((pb.x - pa.x) * (y - pa.y)) / (pb.y - pa.y) + pa.x) inside = !inside;
    }
    if (inside) out.push(i);
  }
  return out;
}
