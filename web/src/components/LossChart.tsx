// Training loss with uPlot (canvas): per step where the report has it, else per epoch (live).
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";

/** As many decimals as the tick step needs, so neighbouring ticks differ (a nearly flat loss: 2.70801, 2.70802, …). */
const fmtTicks = (ticks: number[], step: number): string[] => {
  const dec = Math.min(12, Math.max(0, Math.ceil(-Math.log10(step || 1) - 1e-9)));
  return ticks.map((v) => v.toFixed(dec));
};

export function LossChart(p: { steps: number[]; epochs: number[]; empty?: string }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const perStep = p.steps.length > 1;
    const ys = perStep ? p.steps : p.epochs;
    if (!el.current || ys.length === 0) return;
    const xs = ys.map((_, i) => (perStep ? i + 1 : i + 1));
    const series: uPlot.Series[] = [{ label: perStep ? "step" : "epoch" }, { label: perStep ? "loss (step)" : "loss (epoch)", stroke: "#1f77b4", width: 1.5, points: { show: !perStep || ys.length < 60 } }];
    const data: uPlot.AlignedData = [xs, ys];
    if (perStep && p.epochs.length > 0) {
      // Epoch means drawn at each epoch's last step.
      const per = Math.max(1, Math.round(p.steps.length / p.epochs.length));
      const ep: (number | null)[] = xs.map(() => null);
      p.epochs.forEach((v, e) => (ep[Math.min(xs.length - 1, (e + 1) * per - 1)] = v));
      series.push({ label: "loss (epoch mean)", stroke: "#d62728", width: 2, spanGaps: true, points: { show: true, size: 6 } });
      (data as unknown as (number | null)[][]).push(ep);
    }
    const width = Math.max(300, (el.current.clientWidth || 612) - 12); // inside the box's 6 px padding
    const plot = new uPlot({ width, height: 260, series, scales: { x: { time: false } }, axes: [{ label: perStep ? "step" : "epoch", incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000] }, { label: "loss", size: 64, values: (_u, ticks, _axis, _space, step) => fmtTicks(ticks, step) }] }, data, el.current);
    return () => plot.destroy();
  }, [p.steps, p.epochs]);
  if (p.steps.length === 0 && p.epochs.length === 0) return <p class="muted">{p.empty ?? "No training loss."}</p>;
  // The canvas has a text equivalent: what the curve says, in numbers.
  const e = p.epochs;
  const alt = e.length
    ? `Training loss over ${e.length} epoch(s): ${e[0]!.toFixed(4)} after the first, ${e[e.length - 1]!.toFixed(4)} after the last.`
    : `Training loss over ${p.steps.length} step(s), from ${p.steps[0]!.toFixed(4)} to ${p.steps[p.steps.length - 1]!.toFixed(4)}.`;
  return <div class="chart" ref={el} data-testid="loss-chart" role="img" aria-label={alt} />;
}
