// What a selection takes (items with their embeddings, scores, metadata, predictions; options from the
// worker_config) and what it returns (picks in order, why it stopped, the counts a report needs).
export interface SelectionItems {
  /** N items: images (or object crops later). */
  filenames: string[];
  /** Row-major N×dim, as embedded (not normalised). */
  embeddings?: Float32Array;
  dim?: number;
  /** task → score name → N values. */
  scores?: Record<string, Record<string, ArrayLike<number>>>;
  /** key → N values. */
  metadata?: Record<string, ArrayLike<number | string | null>>;
  /** task → categories and, per item, the category ids of its objects (one for classification). */
  predictions?: Record<string, { categories: string[]; items: { categoryIds: number[]; probabilities?: number[][] }[] }>;
}

export interface SelectionOptions {
  /** L2-normalise embeddings before DIVERSITY / SIMILARITY (worker_config.normalize_embeddings). */
  normalizeEmbeddings?: boolean;
  /** Filenames selected by earlier runs: centres for DIVERSITY and counts for BALANCE; never reselected. */
  datapool?: string[];
  device?: "cpu" | "cuda";
  /** Tags by name (filenames), for SIMILARITY's input.tag_name. */
  tags?: Record<string, string[]>;
  /** worker_config.relevant_filenames_file: only these filenames may be selected (the others still count as data: neighbours, INPUT shares). */
  only?: ReadonlySet<string>;
  /** TYPICALITY above this many items uses the approximate neighbour search (typicality-ivf.ts). */
  typicalityExactMax?: number;
}

export type StopReason =
  | "n_samples" | "stopping_condition_minimum_distance" | "no_candidates_left" | "stopping_condition_max_sum"
  | "stopping_condition_minimum_typicality" | "target_range";

export interface SelectionResult {
  /** Indices into items, in pick order. */
  selected: number[];
  stoppedBy: StopReason;
  /** How many were asked for (n_samples, or floor(proportion_samples × N)). */
  requested: number;
  /** Items that passed every THRESHOLD and are not in the datapool. */
  candidates: number;
  /** Per pick: Euclidean distance to the nearest earlier selection (first DIVERSITY strategy; Infinity with none yet). */
  distances?: number[];
  /** Datapool filenames found among the items (centres), and those that were not. */
  datapoolFound: number;
  datapoolMissing: string[];
  /** Per WEIGHTS strategy with a stopping_condition_max_sum or target_range: the sum reached (index = strategy). */
  sums?: { strategy: number; sum: number; minSum?: number; maxSum?: number; met: boolean }[];
}
