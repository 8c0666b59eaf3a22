#!/usr/bin/env node
// Builds the libtorch addon with node-gyp (release). Honors LIBTORCH (see scripts/torch-config.mjs).
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);
const cfg = spawnSync(process.execPath, ["scripts/torch-config.mjs", "describe"], { stdio: ["ignore", "pipe", "inherit"] });
if (cfg.status !== 0) process.exit(cfg.status ?? 1);
console.log(`winnow: building the native addon against ${JSON.parse(cfg.stdout.toString()).lib}`);
const gyp = join(dirname(require.resolve("node-gyp/package.json")), "bin", "node-gyp.js");
const args = [gyp, "rebuild", `--jobs=${process.env.JOBS ?? "2"}`];
// npm passes --nodedir; invoked directly we point node-gyp at the running node's headers.
const nodedir = process.env.npm_config_nodedir ?? process.env.WINNOW_NODEDIR ?? join(dirname(process.execPath), "..");
args.push(`--nodedir=${nodedir}`);
const r = spawnSync(process.execPath, args, { stdio: "inherit" });
process.exit(r.status ?? 1);
