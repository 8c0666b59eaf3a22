// Exporting trained models: PyTorch checkpoint, safetensors, ONNX (own protobuf writer).
export { exportModel, loadExportSource, EXPORT_FORMATS, EXPORT_PARTS, type ExportFormat, type ExportPart, type ExportOptions, type ExportResult } from "./export-model.js";
export { moduleToOnnx, DEFAULT_OPSET, type OnnxExportOptions } from "./onnx.js";
export { ProtoWriter } from "./protobuf.js";
