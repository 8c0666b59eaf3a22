#!/usr/bin/env node
// Builds the libtorch addon. Honors LIBTORCH (see scripts/torch-config.mjs).
//   node scripts/build-native.mjs            node-gyp rebuild (binding.gyp), the normal path
//   node scripts/build-native.mjs --direct   plain g++ with the same flags, for machines that have
//                                            a compiler and Node's headers but no npm/node-gyp
//                                            (the GPU machine); WINNOW_NODE_INCLUDE = node's headers
// Both build in a staging folder (.native-build/) and only a finished build replaces
// build/Release/winnow_native.node (by rename): node-gyp's rebuild starts by deleting its build
// folder, so building in place left no engine at all whenever the rebuild then failed.
import { spawn, spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const TARGET = join(root, "build", "Release", "winnow_native.node");
const SOURCES = ["native/src/addon.cc", "native/src/ops.cc", "native/src/cpu_cache.cc", "native/src/distributed.cc"];

const cfg = (what) => {
  const r = spawnSync(process.execPath, [join(root, "scripts", "torch-config.mjs"), what], { stdio: ["ignore", "pipe", "inherit"] });
  if (r.status !== 0) keepOld(r.status ?? 1);
  return r.stdout.toString().trim();
};

/** Ends a failed build: the engine built before (if any) is still in place. */
function keepOld(code) {
  rmSync(staging, { recursive: true, force: true });
  console.error(existsSync(TARGET)
    ? `winnow: build failed; the engine built before is unchanged (${TARGET})`
    : "winnow: build failed; no engine is built (see the message above for what to install)");
  process.exit(code);
}

/** node-gyp: the checkout's (a devDependency), else the one npm runs install scripts with. */
function nodeGyp() {
  try {
    return join(dirname(require.resolve("node-gyp/package.json")), "bin", "node-gyp.js");
  } catch {
    const npmGyp = process.env.npm_config_node_gyp;
    if (npmGyp && existsSync(npmGyp)) return npmGyp;
    console.error("winnow: node-gyp not found: run this through npm (`npm rebuild winnow`), or install node-gyp (npm install -g node-gyp)");
    keepOld(1);
  }
}

/** Moves the finished addon over the old one in one rename (same file system). */
function install(built) {
  mkdirSync(dirname(TARGET), { recursive: true });
  const tmp = `${TARGET}.${process.pid}.tmp`;
  copyFileSync(built, tmp);
  renameSync(tmp, TARGET);
  rmSync(staging, { recursive: true, force: true });
}

const staging = join(root, ".native-build");
rmSync(staging, { recursive: true, force: true });
mkdirSync(staging, { recursive: true });
const lib = cfg("libdir");
console.log(`winnow: building the native addon against ${lib}`);

if (process.argv.includes("--direct")) {
  const nodeInclude = process.env.WINNOW_NODE_INCLUDE ?? join(dirname(process.execPath), "..", "include", "node");
  if (!existsSync(join(nodeInclude, "node_api.h"))) {
    console.error(`winnow: Node's headers not found at ${nodeInclude} (set WINNOW_NODE_INCLUDE)`);
    keepOld(1);
  }
  const includes = [require("node-addon-api").include_dir.replace(/"/g, ""), nodeInclude, ...cfg("include").split(" ")];
  const defines = ["NAPI_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS", "NAPI_VERSION=8", "BUILDING_NODE_EXTENSION", ...cfg("defines").split(" ")];
  const flags = ["-std=c++17", "-fPIC", "-O2", "-fexceptions", "-frtti", "-Wno-deprecated-declarations",
    ...includes.map((i) => `-I${i}`), ...defines.map((d) => `-D${d}`)];
  const cxx = process.env.CXX ?? "g++";
  const compile = (src) => new Promise((res, rej) => {
    const out = join(staging, src.replace(/\W/g, "_") + ".o");
    const p = spawn(cxx, [...flags, "-c", join(root, src), "-o", out], { stdio: "inherit" });
    p.on("exit", (code) => (code === 0 ? res(out) : rej(new Error(`${cxx} failed on ${src}`))));
  });
  let objs;
  try {
    objs = await Promise.all(SOURCES.map(compile));
  } catch (e) {
    console.error(`winnow: ${e.message}`);
    keepOld(1);
  }
  const out = join(staging, "winnow_native.node");
  const link = spawnSync(cxx, ["-shared", "-o", out, ...objs, ...cfg("libs").split(" ")], { stdio: "inherit" });
  if (link.status !== 0) keepOld(link.status ?? 1);
  install(out);
  console.log("winnow: built build/Release/winnow_native.node (direct)");
  process.exit(0);
}

// node-gyp builds next to the binding.gyp it is given: one in the staging folder whose relative
// paths point back at the sources (gyp's make output wants relative source paths; require() of
// node-addon-api still resolves, as staging is inside root).
const gypText = JSON.stringify({
  targets: [{
    target_name: "winnow_native",
    sources: SOURCES.map((s) => `../${s}`),
    include_dirs: ["<!(node -p \"require('node-addon-api').include_dir\")", `<!@(node ../scripts/torch-config.mjs include)`],
    defines: ["NAPI_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS", "NAPI_VERSION=8", `<!@(node ../scripts/torch-config.mjs defines)`],
    "cflags!": ["-fno-exceptions", "-fno-rtti"],
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
    cflags_cc: ["-std=c++17", "-fexceptions", "-frtti", "-O2", "-Wno-unused-parameter", "-Wno-deprecated-declarations"],
    libraries: [`<!@(node ../scripts/torch-config.mjs libs)`],
  }],
}, null, 2);
writeFileSync(join(staging, "binding.gyp"), gypText);
const gyp = nodeGyp();
const args = [gyp, "rebuild", `--jobs=${process.env.JOBS ?? "2"}`];
// npm passes --nodedir; invoked directly we point node-gyp at the running node's headers.
const nodedir = process.env.npm_config_nodedir ?? process.env.WINNOW_NODEDIR ?? join(dirname(process.execPath), "..");
args.push(`--nodedir=${nodedir}`);
const r = spawnSync(process.execPath, args, { stdio: "inherit", cwd: staging });
if (r.status !== 0) keepOld(r.status ?? 1);
install(join(staging, "build", "Release", "winnow_native.node"));
console.log(`winnow: built ${TARGET}`);
