#!/usr/bin/env node
// npm's install step for this package (`npm ci`, `npm install`, and npx/npm exec, which install the
// package folder into their cache and run this in the source folder). It builds the engine only
// when none is built: running the CLI must never rebuild, let alone delete, a working engine.
// `npm run build:native` rebuilds on purpose (staged: a failed rebuild keeps the old engine).
// WINNOW_SKIP_NATIVE_BUILD=1 skips it (e.g. installing only the client).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const addon = join(root, "build", "Release", "winnow_native.node");
if (process.env.WINNOW_SKIP_NATIVE_BUILD === "1") process.exit(0);
if (existsSync(addon)) process.exit(0); // built already: nothing to do (rebuild: npm run build:native)
if (!existsSync(join(root, "native", "src", "addon.cc"))) process.exit(0); // no sources to build
console.log("winnow: the native engine is not built yet; building it (npm run build:native)");
const r = spawnSync(process.execPath, [join(root, "scripts", "build-native.mjs")], { stdio: "inherit", cwd: root });
process.exit(r.status ?? 1);
