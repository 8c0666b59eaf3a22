// The SAMPLING stage: selection_config applied to the run's embeddings (and the prediction values
// of SCORES/PREDICTIONS inputs, the metadata of METADATA inputs, tags for SIMILARITY), earlier datapool samples counted as already selected (never picked again).
import type { SelectionConfig } from "../config/selection-config.js";
import { runSelection, type SelectionItems } from "../select/index.js";

export interface SelectStepResult {
  /** New picks (indices into filenames), in pick order. */
  selected: number[];
  stoppedBy: string;
}

export function selectStep(
  cfg: SelectionConfig, filenames: string[], values: Float32Array, d: number,
  opts: { normalize: boolean; datapool: string[]; device?: "cpu" | "cuda"; values?: Pick<SelectionItems, "scores" | "predictions" | "metadata">; tags?: Record<string, string[]>; only?: ReadonlySet<string> },
): SelectStepResult {
  const r = runSelection(cfg, { filenames, embeddings: values, dim: d, ...opts.values }, { normalizeEmbeddings: opts.normalize, datapool: opts.datapool, device: opts.device, tags: opts.tags, only: opts.only });
  return { selected: [...r.selected], stoppedBy: r.stoppedBy };
}
