// torch.nn for Winnow: Module, layers, init, optimizers and LR schedules (PyTorch conventions).
export { Module, StateDictError, type LoadResult, type MemoryFormat } from "./module.js";
export {
  Conv2d, Linear, BatchNorm1d, BatchNorm2d, ReLU, Identity, Flatten, AdaptiveAvgPool2d, MaxPool2d, Dropout, Sequential, BatchNormBase, isNormLayer,
  type Conv2dOptions, type BatchNormOptions,
} from "./layers.js";
export * as init from "./init.js";
export {
  Optimizer, SGD, LARS, AdamW, getWeightDecayParameters,
  type GroupOptions, type SGDOptions, type LARSOptions, type AdamWOptions, type ParamGroup, type ParamGroupSpec, type ParamsArg,
  type OptimizerStateDict, type ParamState,
} from "./optim.js";
export { cosineSchedule, cosineWarmupSchedule, LambdaLR, CosineWarmupScheduler, type CosineWarmupOptions } from "./schedule.js";
export { pyFloat, pyRepr } from "./repr.js";
