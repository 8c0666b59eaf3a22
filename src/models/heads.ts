// Projection heads (lightly/models/modules/heads.py): an MLP in a child Sequential named `layers`.
import type { Tensor } from "../torch/index.js";
import { Module, Linear, BatchNorm1d, ReLU, Sequential } from "../nn/index.js";

/** One block: Linear(in, out, bias) then an optional norm layer and an optional non-linearity. */
export interface HeadBlock {
  inputDim: number;
  outputDim: number;
  batchNorm?: Module | null;
  nonLinearity?: Module | null;
  /** Default: no bias when a norm layer follows (lightly's rule). */
  bias?: boolean;
}

export class ProjectionHead extends Module {
  readonly layers: Sequential;
  constructor(blocks: HeadBlock[]) {
    super();
    const mods: Module[] = [];
    for (const b of blocks) {
      mods.push(new Linear(b.inputDim, b.outputDim, { bias: b.bias ?? !b.batchNorm }));
      if (b.batchNorm) mods.push(b.batchNorm);
      if (b.nonLinearity) mods.push(b.nonLinearity);
    }
    this.layers = this.registerModule("layers", new Sequential(...mods));
  }
  override forward(x: Tensor): Tensor {
    return this.layers.forward(x);
  }
}

/**
 * SimCLR's head. batchNorm=true (lightly >= 1.4.3 default): Linear(no bias), BN1d, ReLU, Linear(no bias),
 * BN1d → keys layers.{0,1,3,4}. batchNorm=false: Linear, ReLU, Linear (with biases) → layers.{0,2}.
 */
export class SimCLRProjectionHead extends ProjectionHead {
  constructor(inputDim = 2048, hiddenDim = 2048, outputDim = 128, numLayers = 2, batchNorm = true) {
    const blocks: HeadBlock[] = [
      { inputDim, outputDim: hiddenDim, batchNorm: batchNorm ? new BatchNorm1d(hiddenDim) : null, nonLinearity: new ReLU() },
    ];
    for (let i = 2; i < numLayers; i++) {
      blocks.push({ inputDim: hiddenDim, outputDim: hiddenDim, batchNorm: batchNorm ? new BatchNorm1d(hiddenDim) : null, nonLinearity: new ReLU() });
    }
    blocks.push({ inputDim: hiddenDim, outputDim, batchNorm: batchNorm ? new BatchNorm1d(outputDim) : null, nonLinearity: null });
    super(blocks);
  }
}
