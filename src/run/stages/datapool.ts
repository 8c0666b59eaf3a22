// use_datapool: the samples earlier runs on this input selected, counted as already selected. Crop
// selection counts the crops earlier crop selections of the same task picked.
import * as fs from "node:fs";
import type { RunContext } from "../context.js";
import { selectedCropsOf } from "../object-level.js";
import { runPaths } from "../paths.js";
import type { RunRecord } from "../store.js";

/** The earlier selections' items that are still usable items of this run (`present`), each once. */
export function datapoolBefore(ctx: RunContext, pool: readonly RunRecord[], present: ReadonlySet<string>): string[] {
  const task = ctx.plan.selectTask;
  const seen = new Set<string>();
  for (const r of pool) {
    if (task) {
      const names = selectedCropsOf(r.output, task);
      if (names) for (const name of names) seen.add(name);
      else ctx.note(`datapool: run ${r.id} selected no crops of task "${task}"; its samples are not counted`);
      continue;
    }
    const f = runPaths(r.output).selectedFilenames;
    if (!fs.existsSync(f)) {
      ctx.note(`datapool: the selection of run ${r.id} is gone (${f}); its samples are not counted`);
      continue;
    }
    for (const name of fs.readFileSync(f, "utf8").split("\n")) if (name.length > 0) seen.add(name);
  }
  const before = [...seen].filter((f) => present.has(f));
  if (seen.size > before.length) ctx.note(`datapool: ${seen.size - before.length} earlier selected file(s) are no longer usable images of the input`);
  ctx.log(`datapool: ${before.length} sample(s) selected by ${pool.length} earlier run(s)`);
  return before;
}
