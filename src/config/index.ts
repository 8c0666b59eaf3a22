// Configuration: lightly_config (Lightly's keys and defaults, strictly checked).
export * from "./lightly-config.js";
