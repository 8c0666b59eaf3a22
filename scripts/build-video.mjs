#!/usr/bin/env node
// Builds the video addon (native/video/video.c → build/Release/winnow_video.node): FFmpeg's
// libraries (Debian's libavformat-dev, libavcodec-dev, libavfilter-dev, libavutil-dev, found by
// pkg-config) bound into Node through plain N-API. Separate from the libtorch engine: it needs no
// libtorch, builds in seconds, and a machine without FFmpeg's headers still gets its engine.
// Staged like build-native.mjs: a failed build leaves the addon built before in place.
//   node scripts/build-video.mjs     (WINNOW_NODE_INCLUDE: Node's headers when not next to node)
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const TARGET = join(root, "build", "Release", "winnow_video.node");
const LIBS = ["libavformat", "libavcodec", "libavfilter", "libavutil"];

function fail(msg) {
  console.error(`winnow: ${msg}`);
  console.error(existsSync(TARGET) ? `winnow: the video addon built before is unchanged (${TARGET})` : "winnow: no video addon is built: video files cannot be read");
  process.exit(1);
}

const pc = spawnSync("pkg-config", ["--cflags", "--libs", ...LIBS], { encoding: "utf8" });
if (pc.status !== 0) fail(`FFmpeg's development files not found by pkg-config (apt-get install ${LIBS.map((l) => `${l}-dev`).join(" ")} pkg-config): ${(pc.stderr || pc.error?.message || "").trim()}`);
const nodeInclude = process.env.WINNOW_NODE_INCLUDE
  ?? [join(dirname(process.execPath), "..", "include", "node"), "/usr/include/node"].find((d) => existsSync(join(d, "node_api.h")));
if (!nodeInclude || !existsSync(join(nodeInclude, "node_api.h"))) fail("Node's headers (node_api.h) not found: set WINNOW_NODE_INCLUDE");

const staging = join(root, ".video-build");
rmSync(staging, { recursive: true, force: true });
mkdirSync(staging, { recursive: true });
const built = join(staging, "winnow_video.node");
const cc = process.env.CC ?? "cc";
const args = ["-std=gnu11", "-O2", "-fPIC", "-shared", "-Wall", "-Wextra", "-Werror", `-I${nodeInclude}`, "-DNAPI_VERSION=8",
  "-o", built, join(root, "native", "video", "video.c"), ...pc.stdout.trim().split(/\s+/)];
const r = spawnSync(cc, args, { stdio: "inherit" });
if (r.status !== 0) fail(`${cc} failed on native/video/video.c`);
mkdirSync(dirname(TARGET), { recursive: true });
copyFileSync(built, `${TARGET}.${process.pid}.tmp`);
renameSync(`${TARGET}.${process.pid}.tmp`, TARGET);
rmSync(staging, { recursive: true, force: true });
console.log(`winnow: built ${TARGET}`);
