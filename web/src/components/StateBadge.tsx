import { END_STATES } from "../api.ts";

export function StateBadge(p: { state: string }) {
  const kind = p.state === "COMPLETED" ? "ok" : END_STATES.has(p.state) ? "bad" : "live";
  return <span class={`badge ${kind}`} data-state={p.state}>{p.state}</span>;
}
