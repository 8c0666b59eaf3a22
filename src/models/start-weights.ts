// Starting weights from a pretrained file whose head may not fit the configured model. Lightly's
// zoo files (2020) carry a backbone in any of lightly's historic key layouts and a projection head
// that lightly's own loader drops when it lacks "layers" (cli/_helpers.py _fix_projection_head_keys).
// Here the backbone must fit exactly; a head that does not fit starts from the seed's random
// weights. When the file fits as it is, it is used as it is; otherwise the combined model is
// written once as a Winnow checkpoint, so training and embedding load it strictly like any other.
import * as torch from "../torch/index.js";
import { loadStateDictFile } from "../checkpoint/index.js";
import { buildModel, type ModelConfig } from "./registry.js";
import { checkpointLayout, loadCheckpointInto, normalizeLightlyKeys, saveCheckpoint, formatModelConfig } from "./checkpoint.js";

export interface StartingCheckpoint {
  /** The file to start from: `file` itself, or `outPath` when the head had to be replaced. */
  path: string;
  /** Set when the file's projection head was not used. */
  note: string | null;
}

export function startingCheckpoint(file: string, settings: ModelConfig, seed: number, outPath: string): StartingCheckpoint {
  const dict = normalizeLightlyKeys(loadStateDictFile(file));
  // The file's backbone layout wins over the config's (as for any checkpoint one fine-tunes from);
  // its head variant too, when it has a head.
  const layout = checkpointLayout(dict);
  const fit: ModelConfig = {
    ...settings, inputBatchNorm: layout.inputBatchNorm, featureConv: layout.featureConv,
    projectionHeadBatchNorm: layout.projectionHeadBatchNorm ?? settings.projectionHeadBatchNorm,
  };
  torch.manualSeed(seed);
  const model = buildModel(fit);
  try {
    try {
      loadCheckpointInto(model, dict);
      return { path: file, note: null };
    } catch (strictError) {
      const backbone = new Map([...dict].filter(([k]) => k.startsWith("backbone.")));
      const own = [...model.stateDict().keys()];
      const missing = own.filter((k) => k.startsWith("backbone.") && !backbone.has(k));
      const unexpected = [...backbone.keys()].filter((k) => !own.includes(k));
      // The backbone itself does not fit: the strict error says what differs and what would fit.
      if (missing.length || unexpected.length || backbone.size === 0) throw strictError;
      loadCheckpointInto(model, backbone, { strict: false }); // shape mismatches still fail
      const headKeys = [...dict.keys()].filter((k) => !k.startsWith("backbone."));
      saveCheckpoint(model, outPath);
      return {
        path: outPath,
        note: `${file}: backbone loaded; its projection head (${headKeys.length ? headKeys.slice(0, 4).join(", ") + (headKeys.length > 4 ? ", …" : "") : "none"}) ` +
          `does not fit lightly_config.model = ${formatModelConfig(fit)} and starts from random weights (seed), as lightly's loader drops heads it cannot use`,
      };
    }
  } finally {
    model.dispose();
  }
}
