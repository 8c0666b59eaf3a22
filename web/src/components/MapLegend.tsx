// The embedding map's legend: what the colours mean (selection, folders, or a metadata field's scale
// or categories, with the count of points that have no value), the colour choice, and the axes.
import type { EmbeddingMap as MapData } from "../api.ts";
import { PALETTE, type folderGroups } from "../mapGroups.ts";
import { legendNumber, MISSING, RAMP, type CategoryColours, type MapMetadata, type NumericColours } from "../mapColours.ts";

/** "selection", "folder", or "field:<key>" for a metadata field. */
export type ColourBy = string;

export function MapLegend(p: {
  map: MapData; meta: MapMetadata | null; colourBy: ColourBy; onColourBy: (c: ColourBy) => void;
  folders: ReturnType<typeof folderGroups> | null; field: NumericColours | CategoryColours | null; axes: string;
}) {
  const f = p.field;
  return (
    <div class="legend">
      {!p.folders && !f && (
        <>
          <span><i class="dot all" /> all {p.map.n}</span>
          {p.map.datapool.length > 0 && <span><i class="dot pool" /> earlier datapool {p.map.datapool.length}</span>}
          <span><i class="dot sel" /> selected {p.map.selected.length}</span>
        </>
      )}
      <label class="small">Colour by{" "}
        <select name="colour-by" value={p.colourBy} onChange={(e) => p.onColourBy((e.target as HTMLSelectElement).value)}>
          <option value="selection">selection</option>
          <option value="folder">folder</option>
          {p.meta?.fields.map((m) => <option key={m.key} value={`field:${m.key}`}>{m.key}</option>)}
        </select>
      </label>
      {p.folders && p.folders.names.map((name, gi) => <span key={name} data-testid="folder-legend"><i class="dot" style={{ background: PALETTE[gi] }} /> {name} {p.folders!.counts[gi]}</span>)}
      {f?.kind === "numeric" && (Number.isFinite(f.min)
        ? <span data-testid="scale-legend"><span data-testid="scale-min">{legendNumber(f.min)}</span><i class="ramp" style={{ background: `linear-gradient(to right, ${RAMP.join(", ")})` }} /><span data-testid="scale-max">{legendNumber(f.max)}</span></span>
        : <span data-testid="scale-legend">no numeric values</span>)}
      {f?.kind === "categorical" && f.names.map((name, gi) => <span key={name} data-testid="category-legend"><i class="dot" style={{ background: f.colours[gi] }} /> {name} {f.counts[gi]}</span>)}
      {f && <span data-testid="missing-legend"><i class="dot" style={{ background: MISSING }} /> no value {f.missing}</span>}
      <span class="muted" data-testid="map-axes">PCA of {p.map.d}-d embeddings · {p.axes} · one scale for both axes</span>
    </div>
  );
}
