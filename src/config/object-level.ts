// Which prediction tasks a run needs, and whether it works on object crops (Lightly's "crop
// selection" / object level), read from the resolved worker_config and selection_config.
//
// Lightly's semantics, followed here:
// - An EMBEDDINGS input naming a `task` makes the selection object-level: every sample is one object
//   crop of that task (an object-detection task), embedded and selected like an image. All
//   EMBEDDINGS inputs of a run then name that task: one run selects one kind of item.
// - SCORES and PREDICTIONS inputs read the task's prediction files: per crop in an object-level run
//   (a crop has its own object only, so they must name the crop task), per image otherwise (all
//   objects of the image).
// - worker_config.training.task_name trains the self-supervised model on that task's crops,
//   whatever the selection works on.
// No engine import: checked with the rest of the config, before anything starts.
import type { ConfigIssue } from "./lightly-config.js";
import type { SelectionConfig } from "./selection-config.js";
import type { WorkerConfig } from "./worker-config.js";

export interface ObjectLevelPlan {
  /** Task whose crops are embedded and selected; null = whole images. */
  selectTask: string | null;
  /** Task whose crops the model is trained on (enable_training with training.task_name); null = whole images. */
  trainTask: string | null;
  /** Tasks whose values (scores, predictions) SCORES/PREDICTIONS inputs read. */
  valueTasks: string[];
  /** Every task the run reads (selectTask, trainTask, valueTasks), each once. */
  tasks: string[];
}

/** The plan, or the config issues that make the tasks inconsistent. */
export function objectLevelPlan(wc: WorkerConfig, sc: SelectionConfig): { plan: ObjectLevelPlan | null; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const at = (i: number): string => `selection_config.strategies[${i}].input`;
  let selectTask: string | null = null;
  let first = -1;
  let plainEmbeddings = -1;
  sc.strategies.forEach((s, i) => {
    if (s.input.type !== "EMBEDDINGS") return;
    const t = s.input.task;
    if (!t) {
      if (plainEmbeddings < 0) plainEmbeddings = i;
      return;
    }
    if (selectTask === null) {
      selectTask = t;
      first = i;
    } else if (t !== selectTask) {
      issues.push({ path: `${at(i)}.task`, message: `is ${JSON.stringify(t)}, but strategies[${first}] selects crops of task ${JSON.stringify(selectTask)}; a run selects one kind of item: give every EMBEDDINGS input the same task` });
    }
  });
  if (selectTask !== null && plainEmbeddings >= 0) {
    issues.push({ path: `${at(plainEmbeddings)}`, message: `EMBEDDINGS without a task (whole images), but strategies[${first}] selects object crops of task ${JSON.stringify(selectTask)}; a run selects one kind of item: add task: ${JSON.stringify(selectTask)} or drop the task from strategies[${first}]` });
  }
  const valueTasks: string[] = [];
  sc.strategies.forEach((s, i) => {
    if (s.input.type !== "SCORES" && s.input.type !== "PREDICTIONS") return;
    const t = s.input.task;
    if (selectTask !== null && t !== selectTask) {
      issues.push({ path: `${at(i)}.task`, message: `is ${JSON.stringify(t)}, but this run selects object crops of task ${JSON.stringify(selectTask)} (strategies[${first}]); a crop has values of its own task only: use task ${JSON.stringify(selectTask)}` });
    }
    if (!valueTasks.includes(t)) valueTasks.push(t);
  });
  // Without enable_training nothing is trained and task_name has no effect (as in Lightly; the run notes it).
  const trainTask = (wc.enable_training && wc.training.task_name) || null;
  if (issues.length) return { plan: null, issues };
  const tasks = [...new Set([selectTask, trainTask, ...valueTasks].filter((t): t is string => t !== null))];
  return { plan: { selectTask, trainTask, valueTasks, tasks }, issues };
}
