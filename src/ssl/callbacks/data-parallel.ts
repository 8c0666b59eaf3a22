// Data-parallel training as PyTorch's DistributedDataParallel does it, as a callback of the one
// training loop: rank 0's parameters and buffers broadcast to every rank before the first step,
// gradients averaged over the ranks (bucketed, one allreduce per bucket) between backward and the
// optimizer step, and a barrier after each checkpoint so that no rank races ahead of rank 0's
// write (nor exits before it). The data shard is the view source's business (views.ts), the
// gathered negatives the loss's (ntxent.ts).
//
// The reduction runs after backward, not overlapped with it: the engine's backward is one
// synchronous native call with no hook to JavaScript per gradient. What that costs against DDP
// (which overlaps) is measured in bench/distributed-step.ts (docs/benchmarks.md).
// BatchNorm is per rank (Lightly's CLI and Lightning default: no SyncBatchNorm); the statistics
// checkpointed are rank 0's, as DDP's (which broadcasts rank 0's buffers).
import * as torch from "../../torch/index.js";
import { allReduceGradients, broadcastModule, type ProcessGroup } from "../../distributed/index.js";
import type { TrainLoopState } from "../loop-state.js";
import type { TrainCallback } from "./callback.js";

export class DataParallelCallback implements TrainCallback {
  constructor(
    private readonly pg: ProcessGroup,
    private readonly bucketCapMB?: number,
  ) {}

  onTrainStart(s: TrainLoopState): void {
    broadcastModule(this.pg, s.model, { bucketCapMB: this.bucketCapMB });
  }

  onBeforeOptimizerStep(s: TrainLoopState): void {
    allReduceGradients(this.pg, s.model, { bucketCapMB: this.bucketCapMB });
  }

  // After the checkpoint callback (listed before this one) has written on rank 0.
  onEpochEnd(): void {
    this.pg.barrier();
  }

  onStop(): void {
    this.pg.barrier();
  }

  /**
   * Whether any rank asks to stop: every rank must stop after the same step, or the others would
   * wait in the next collective. One tiny allreduce per step.
   */
  agreeStop(local: boolean): boolean {
    return torch.scope(() => {
      const flag = torch.tensor([local ? 1 : 0]);
      this.pg.allReduce(flag, "max");
      return flag.item() > 0;
    });
  }
}
