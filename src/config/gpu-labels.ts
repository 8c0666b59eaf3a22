// GPUs in the service's claim, with the runs_on labels it already filters on: a worker with N GPUs
// carries gpus:1 … gpus:N ("at least k GPUs" for every k ≤ N), and a run whose
// lightly_config.trainer.gpus is N > 1 needs gpus:N. A run asking for 0 or 1 GPU needs no label: it
// runs on a CPU worker too (trainer.gpus 1 falls back to the CPU there, as in `winnow run`).

export const gpuLabel = (n: number): string => `gpus:${n}`;

/** The labels of a worker with `n` GPUs (capped at 64, the most a runs_on list holds). */
export function workerGpuLabels(n: number): string[] {
  return Array.from({ length: Math.min(Math.max(0, Math.floor(n)), 64) }, (_, i) => gpuLabel(i + 1));
}

/** The label a run's lightly_config (as stored, unparsed) needs, if any. */
export function runGpuLabels(lightlyConfig: unknown): string[] {
  const trainer = (lightlyConfig as { trainer?: { gpus?: unknown } } | null | undefined)?.trainer;
  const gpus = trainer?.gpus;
  return typeof gpus === "number" && Number.isInteger(gpus) && gpus > 1 ? [gpuLabel(Math.min(gpus, 64))] : [];
}

/** A worker's GPU count read back from its labels (the highest gpus:k), for listings. */
export function gpusOfLabels(labels: readonly string[]): number {
  return labels.reduce((m, l) => Math.max(m, /^gpus:(\d+)$/.test(l) ? Number(l.slice(5)) : 0), 0);
}
