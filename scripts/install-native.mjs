#!/usr/bin/env node
// npm's install step for this package: `npm install winnow` in a user's project, and in a checkout
// `npm ci`/`npm install` and npx/npm exec (which install the package folder into their cache and
// run this in the source folder). It builds the engine only when none is built: running the CLI
// must never rebuild, let alone delete, a working engine. `npm run build:native` rebuilds on
// purpose (staged: a failed rebuild keeps the old engine).
//
// A failed build does not fail the install: winnow/client and winnow/config need no engine, and
// importing the engine later says it is not built and how to build it. WINNOW_REQUIRE_NATIVE=1
// makes a failed build fail the install. WINNOW_SKIP_NATIVE_BUILD=1 skips the build (installing
// only the client). WINNOW_PREBUILT_NATIVE=/path/winnow_native.node installs that addon instead of
// building, if it loads here (built against this machine's libtorch): for machine images and CI
// that build the addon once; without it an install compiles the addon (minutes).
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, renameSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const addon = join(root, "build", "Release", "winnow_native.node");
if (process.env.WINNOW_SKIP_NATIVE_BUILD === "1") process.exit(0);
// The video addon (FFmpeg's libraries; small, seconds to build) first, on its own: without it only
// video files cannot be read, so a failed build is a note, not a failed install.
const videoAddon = join(root, "build", "Release", "winnow_video.node");
if (!existsSync(videoAddon) && existsSync(join(root, "native", "video", "video.c"))) {
  const v = spawnSync(process.execPath, [join(root, "scripts", "build-video.mjs")], { stdio: "inherit", cwd: root });
  if (v.status !== 0) console.error("winnow: the video addon was not built: video files cannot be read until it is (npm run build:video)");
}
if (existsSync(addon)) process.exit(0); // built already: nothing to do (rebuild: npm run build:native)
if (!existsSync(join(root, "native", "src", "addon.cc"))) process.exit(0); // no sources to build

const prebuilt = process.env.WINNOW_PREBUILT_NATIVE;
if (prebuilt) {
  // Loaded in a child process: a .node for another libtorch or Node fails to load there, not here.
  const probe = spawnSync(process.execPath, ["-e", "console.log(require(process.argv[1]).buildInfo().torchVersion)", prebuilt], { encoding: "utf8" });
  if (probe.status === 0) {
    mkdirSync(dirname(addon), { recursive: true });
    copyFileSync(prebuilt, `${addon}.${process.pid}.tmp`);
    renameSync(`${addon}.${process.pid}.tmp`, addon);
    console.log(`winnow: installed the prebuilt engine ${prebuilt} (libtorch ${probe.stdout.trim()})`);
    process.exit(0);
  }
  console.log(`winnow: WINNOW_PREBUILT_NATIVE=${prebuilt} does not load here (${probe.stderr.trim().split("\n").pop()}); building instead`);
}

console.log("winnow: the native engine is not built yet; building it against this machine's libtorch (a few minutes)");
const r = spawnSync(process.execPath, [join(root, "scripts", "build-native.mjs")], { stdio: "inherit", cwd: root });
if (r.status === 0) process.exit(0);
console.error(
  "\nwinnow: the native engine (libtorch) could not be built; see the message above for what to install.\n" +
    "  winnow/client and winnow/config work without it; the engine, the models, `winnow run` and\n" +
    "  `winnow worker` need it. Install libtorch (Debian/Ubuntu:\n" +
    "    sudo apt-get install -y libtorch-dev libgloo-dev libopenblas0-pthread build-essential python3\n" +
    "  or set LIBTORCH to a libtorch or a pip torch folder), then run: npm rebuild winnow\n",
);
process.exit(process.env.WINNOW_REQUIRE_NATIVE === "1" ? r.status ?? 1 : 0);
