// One SimCLR step (Lightning's training_step plus the optimizer step): backbone + head on each view
// separately (as lightly's _SimCLR does, so BatchNorm sees each view's batch statistics), NT-Xent,
// backward, SGD. bf16-mixed runs the forward under CUDA autocast and the loss in float32.
import * as torch from "../torch/index.js";
import type { Tensor } from "../torch/index.js";
import type { SGD } from "../nn/index.js";
import type { SimCLR } from "../models/index.js";
import { ntXentLoss, type NegativesGroup } from "./ntxent.js";

export type Precision = "32" | "bf16-mixed";

export interface StepSettings {
  precision: Precision;
  temperature: number;
  /** Data-parallel with criterion.gather_distributed: negatives from every rank. */
  negatives?: NegativesGroup;
  /** Called with the gradients in place, before the optimizer step (the callbacks' hook). */
  beforeOptimizerStep?: () => void;
}

/** Runs the step on views v0, v1 (disposed here, also on error); returns the loss. Gradients are freed after. */
export function trainingStep(model: SimCLR, opt: SGD, v0: Tensor, v1: Tensor, o: StepSettings): number {
  let loss: number;
  try {
    loss = torch.scope(() => {
      const forward = (): [Tensor, Tensor] => [model.forward(v0), model.forward(v1)];
      const [z0, z1] = o.precision === "bf16-mixed" ? torch.autocast("cuda", "bfloat16", forward) : forward();
      const l = o.precision === "bf16-mixed" ? ntXentLoss(z0.float(), z1.float(), o.temperature, o.negatives) : ntXentLoss(z0, z1, o.temperature, o.negatives);
      opt.zeroGrad();
      l.backward();
      o.beforeOptimizerStep?.();
      opt.step();
      return l.item();
    });
  } finally {
    v0.dispose();
    v1.dispose();
  }
  opt.zeroGrad(); // free the gradients between steps
  return loss;
}
