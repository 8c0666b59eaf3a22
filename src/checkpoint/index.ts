// Pure-TypeScript PyTorch checkpoint (torch.save zip) and safetensors reader/writer.
// Reading is safe like torch.load(weights_only=True); nothing depends on the tensor engine.
export { CheckpointError, type CheckpointErrorCode } from "./errors.js";
export {
  DTYPES,
  itemSize,
  isRawTensor,
  isRawStorage,
  rawTensorToContiguousBytes,
  type DType,
  type RawStorage,
  type RawTensor,
  type TensorToWrite,
} from "./tensor.js";
export { Placeholder, PickleGlobal, pickleAttributes, isDangerousGlobal } from "./pickle-read.js";
export { readTorchFile, loadStateDictFile, findStateDict, type ReadOptions } from "./torch-file.js";
export { encodeTorchFile, saveTorchFile, type WriteOptions, type ExtraValue } from "./torch-write.js";
export { readSafetensors, encodeSafetensors, saveSafetensors, type SafetensorsContents } from "./safetensors.js";
export { crc32 } from "./crc32.js";
