// `winnow/config`: the configuration schemas (zod) with Lightly's keys and defaults, their parsers
// ("did you mean" errors with field paths) and the run file's loader. Engine-free: importing this
// never loads the native addon.
export * from "./lightly-config.js";
export * from "./worker-config.js";
export * from "./selection-config.js";
export {
  RUN_CONFIG_SECTIONS, DEFAULT_STRATEGIES, RunConfigError, readRunConfigFile, resolveRunConfig, loadRunConfig,
  type RunConfig, type RunOverrides,
} from "./run-config.js";
