// Where a run's files are, relative to its output folder: the one place that names them (Lightly's
// worker layout: config/, data/, filenames/, checkpoints/, report.*).
import * as path from "node:path";

export interface RunPaths {
  output: string;
  /** Folder of the resolved config (run.yaml and one JSON file per section). */
  config: string;
  runYaml: string;
  workerConfig: string;
  selectionConfig: string;
  lightlyConfig: string;
  log: string;
  embeddings: string;
  selectedEmbeddings: string;
  selectedFilenames: string;
  /** use_datapool runs: earlier selections plus this run's. */
  selectedFilenamesIncludingDatapool: string;
  selectedEmbeddingsIncludingDatapool: string;
  /** Crop selection only: the selected crops (csv; .json beside it). */
  selectedCrops: string;
  /** Runs that read predictions: problems per task (json) and the files skipped whole (txt). */
  predictionIssues: string;
  malformedPredictionFiles: string;
  /** Custom metadata files that could not be read (only when there are some). */
  metadataIssues: string;
  /** Per-image metadata for the UI's embedding map (map-metadata.ts). */
  mapMetadata: string;
  corruptFilenames: string;
  duplicateFilenames: string;
  corruptnessInformation: string;
  checkpoints: string;
  /** Selected video frames as image files (worker_config.output_image_format). */
  frames: string;
  reportHtml: string;
  reportJson: string;
  record: string;
}

export function runPaths(output: string): RunPaths {
  const config = path.join(output, "config");
  const data = (name: string): string => path.join(output, "data", name);
  const names = (name: string): string => path.join(output, "filenames", name);
  return {
    output,
    config,
    runYaml: path.join(config, "run.yaml"),
    workerConfig: path.join(config, "worker_config.json"),
    selectionConfig: path.join(config, "selection_config.json"),
    lightlyConfig: path.join(config, "lightly_config.json"),
    log: path.join(output, "log.txt"),
    embeddings: data("embeddings.csv"),
    selectedEmbeddings: data("selected_embeddings.csv"),
    selectedFilenames: names("selected_filenames.txt"),
    selectedFilenamesIncludingDatapool: names("selected_filenames_including_datapool.txt"),
    selectedEmbeddingsIncludingDatapool: data("selected_embeddings_including_datapool.csv"),
    selectedCrops: data("selected_crops.csv"),
    predictionIssues: data("prediction_issues.json"),
    malformedPredictionFiles: names("malformed_prediction_files.txt"),
    metadataIssues: data("metadata_issues.json"),
    mapMetadata: data("map_metadata.json"),
    corruptFilenames: names("corrupt_filenames.txt"),
    duplicateFilenames: names("duplicate_filenames.txt"),
    corruptnessInformation: data("corruptness_check_information.json"),
    checkpoints: path.join(output, "checkpoints"),
    frames: path.join(output, "frames"),
    reportHtml: path.join(output, "report.html"),
    reportJson: path.join(output, "report.json"),
    record: path.join(output, "run.json"),
  };
}
