// Lightly's predictions folder: reading with per-file reports, crop boxes, selection inputs.
export {
  predictionsDirOf, listPredictionTasks, readTaskSchema, readTaskPredictions, predictionFileOf, OBJECT_DETECTION,
  type TaskPredictions, type TaskSchema, type Category, type Prediction, type PredictionIssue, type PredictionIssueCode,
} from "./read.js";
export { cropBoxes, parseCropName, imageSelectionValues, cropSelectionValues, SCORE_NAMES, type CropInfo } from "./values.js";
