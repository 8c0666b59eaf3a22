// INITIALIZING, first part: the resolved config into config/, libtorch's threads, the input folder checked.
import * as fs from "node:fs";
import YAML from "yaml";
import * as torch from "../../torch/index.js";
import { writeFileAtomic } from "../../util/atomic.js";
import { WinnowError } from "../../util/errors.js";
import type { RunContext } from "../context.js";
import { jsonText } from "../files.js";

export function initialize(ctx: RunContext): void {
  const { config, paths } = ctx;
  ctx.log(`run ${ctx.id}: input ${ctx.input}, output ${paths.output}`);
  fs.mkdirSync(paths.config, { recursive: true });
  writeFileAtomic(paths.runYaml, YAML.stringify(config));
  writeFileAtomic(paths.workerConfig, jsonText(config.worker_config));
  writeFileAtomic(paths.selectionConfig, jsonText(config.selection_config));
  writeFileAtomic(paths.lightlyConfig, jsonText(config.lightly_config));
  if (config.worker_config.num_threads >= 1) torch.setNumThreads(config.worker_config.num_threads);

  let st: fs.Stats | null = null;
  try {
    st = fs.statSync(ctx.input);
  } catch {
    st = null;
  }
  if (!st?.isDirectory()) throw new WinnowError(st ? "invalid_input" : "not_found", `input ${ctx.inputGiven}: ${st ? "not a folder" : "no such folder"}`, { where: ctx.inputGiven });
  if (ctx.sourceLine) ctx.log(ctx.sourceLine);
}
