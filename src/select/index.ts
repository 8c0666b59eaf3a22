// `select`: Lightly's selection strategies over embedded items (run-selection.ts is the entry point).
export { runSelection } from "./run-selection.js";
export type { SelectionItems, SelectionOptions, SelectionResult, StopReason } from "./types.js";
export { SelectionInputError } from "./inputs.js";
export { frameSequences, sequenceEmbeddings, sequenceCount, type FrameRef } from "./sequences.js";
