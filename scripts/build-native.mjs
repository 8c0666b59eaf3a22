#!/usr/bin/env node
// Builds the libtorch addon. Honors LIBTORCH (see scripts/torch-config.mjs).
//   node scripts/build-native.mjs            node-gyp rebuild (binding.gyp), the normal path
//   node scripts/build-native.mjs --direct   plain g++ with the same flags, for machines that have
//                                            a compiler and Node's headers but no npm/node-gyp
//                                            (the GPU machine); WINNOW_NODE_INCLUDE = node's headers
import { spawn, spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { mkdirSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);
const cfg = (what) => {
  const r = spawnSync(process.execPath, ["scripts/torch-config.mjs", what], { stdio: ["ignore", "pipe", "inherit"] });
  if (r.status !== 0) process.exit(r.status ?? 1);
  return r.stdout.toString().trim();
};
const lib = cfg("libdir");
console.log(`winnow: building the native addon against ${lib}`);

const SOURCES = ["native/src/addon.cc", "native/src/ops.cc", "native/src/cpu_cache.cc"];

if (process.argv.includes("--direct")) {
  const nodeInclude = process.env.WINNOW_NODE_INCLUDE ?? join(dirname(process.execPath), "..", "include", "node");
  if (!existsSync(join(nodeInclude, "node_api.h"))) {
    console.error(`winnow: Node's headers not found at ${nodeInclude} (set WINNOW_NODE_INCLUDE)`);
    process.exit(1);
  }
  const includes = [require("node-addon-api").include_dir.replace(/"/g, ""), nodeInclude, ...cfg("include").split(" ")];
  const defines = ["NAPI_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS", "NAPI_VERSION=8", "BUILDING_NODE_EXTENSION", ...cfg("defines").split(" ")];
  const flags = ["-std=c++17", "-fPIC", "-O2", "-fexceptions", "-frtti", "-Wno-deprecated-declarations",
    ...includes.map((i) => `-I${i}`), ...defines.map((d) => `-D${d}`)];
  mkdirSync("build/Release/obj", { recursive: true });
  const cxx = process.env.CXX ?? "g++";
  const compile = (src) => new Promise((resolve, reject) => {
    const out = join("build/Release/obj", src.replace(/\W/g, "_") + ".o");
    const p = spawn(cxx, [...flags, "-c", src, "-o", out], { stdio: "inherit" });
    p.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`${cxx} failed on ${src}`))));
  });
  const objs = await Promise.all(SOURCES.map(compile));
  const link = spawnSync(cxx, ["-shared", "-o", "build/Release/winnow_native.node", ...objs, ...cfg("libs").split(" ")], { stdio: "inherit" });
  if (link.status !== 0) process.exit(link.status ?? 1);
  console.log("winnow: built build/Release/winnow_native.node (direct)");
  process.exit(0);
}

const gyp = join(dirname(require.resolve("node-gyp/package.json")), "bin", "node-gyp.js");
const args = [gyp, "rebuild", `--jobs=${process.env.JOBS ?? "2"}`];
// npm passes --nodedir; invoked directly we point node-gyp at the running node's headers.
const nodedir = process.env.npm_config_nodedir ?? process.env.WINNOW_NODEDIR ?? join(dirname(process.execPath), "..");
args.push(`--nodedir=${nodedir}`);
const r = spawnSync(process.execPath, args, { stdio: "inherit" });
process.exit(r.status ?? 1);
