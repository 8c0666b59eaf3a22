#!/usr/bin/env bash
# One-time, idempotent set-up of a Debian/Ubuntu machine for Winnow. Run it as root, or as the user
# who will run Winnow (apt-get then goes through sudo; node_modules and the build stay that user's).
# Installs libtorch (Debian's CPU build), OpenBLAS (Debian's libtorch multiplies matrices with
# the reference BLAS otherwise), PyTorch for the oracle tests, Chromium (the report's browser test,
# driven by playwright-core: no browser download), build tools; then npm ci, the native build and
# the web UI (web/dist).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n==> %s\n' "$*"; }
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# postgresql: the service tests start their own throwaway cluster from its binaries (initdb/pg_ctl on
# 127.0.0.1, test/helpers/postgres.ts; no system service needed). Their S3 server, s3rver, is from npm.
# libgloo-dev: Gloo's headers, which libtorch's c10d ProcessGroupGloo.hpp includes (the addon's
# distributed ops, native/src/distributed.cc); same Debian source as the libgloo0 libtorch links.
# libav*-dev: FFmpeg's libraries, which the video addon (native/video/video.c) binds to probe and
# decode video files in process; ffmpeg: its CLIs for the rest (full-size frames for crops, frame
# times, exported frames) and the tests' own clips and reference decodes.
PKGS=(libtorch-dev libgloo-dev libopenblas0-pthread python3-torch python3-torchvision python3-pil chromium build-essential python3 pkg-config postgresql ffmpeg
  libavformat-dev libavcodec-dev libavfilter-dev libavutil-dev)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "apt-get install ${missing[*]}"
  if [ -n "$SUDO" ] && ! command -v sudo >/dev/null; then
    echo "winnow: installing ${missing[*]} needs root: run this script as root, or install sudo" >&2
    exit 1
  fi
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  say "apt packages already installed: ${PKGS[*]}"
fi

if ! command -v node >/dev/null; then
  echo "winnow: Node.js 20+ is required (apt-get install nodejs npm)" >&2
  exit 1
fi

say "npm ci"
# onnxruntime-node ships its CPU binary in the package; its postinstall would download CUDA parts.
# The package's install script would build the engine only when none is built; the build below
# always (re)builds it, staged, so a failed rebuild keeps the engine built before.
WINNOW_SKIP_NATIVE_BUILD=1 ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund

say "building the native addon (node-gyp, against $(node scripts/torch-config.mjs libdir))"
npm run build:native --silent

say "building the video addon (FFmpeg's libraries: native/video/video.c)"
npm run build:video --silent

say "building the web UI (web/dist, served by winnow serve under /ui/)"
npm run build:web --silent

say "checking the engine loads"
node -e "const m=require('./build/Release/winnow_native.node'); const i=m.buildInfo(); console.log('libtorch', i.torchVersion, 'cuda', i.cuda, 'threads', m.getNumThreads())"
say "done"
