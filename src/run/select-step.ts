// The SAMPLING stage: selection_config applied to the run's embeddings, earlier datapool samples
// counted as already selected (never picked again).
import type { SelectionConfig } from "../config/selection-config.js";
import { runSelection } from "../select/index.js";

export interface SelectStepResult {
  /** New picks (indices into filenames), in pick order. */
  selected: number[];
  stoppedBy: string;
}

export function selectStep(
  cfg: SelectionConfig, filenames: string[], values: Float32Array, d: number,
  opts: { normalize: boolean; datapool: string[]; device?: "cpu" | "cuda" },
): SelectStepResult {
  const r = runSelection(cfg, { filenames, embeddings: values, dim: d }, { normalizeEmbeddings: opts.normalize, datapool: opts.datapool, device: opts.device });
  return { selected: [...r.selected], stoppedBy: r.stoppedBy };
}
