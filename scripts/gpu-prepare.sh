#!/usr/bin/env bash
# Run HERE (the CPU machine) before the GPU check: packs what the GPU machine lacks into .gpu/
# (git-ignored), which the device call carries: an xz copy of this node binary, Node-API headers,
# the fixtures, and the GPU scripts bundled to plain JavaScript (the GPU machine has no npm).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .gpu/node-include .gpu/bundle .gpu/fixtures
node_bin=$(readlink -f "$(command -v node)")
if [ ! -s .gpu/node.xz ] || [ "$node_bin" -nt .gpu/node.xz ]; then
  echo "packing $node_bin"; xz -T2 -6 -c "$node_bin" > .gpu/node.xz
fi
inc=$(dirname "$node_bin")/../include/node
cp "$inc"/{js_native_api.h,js_native_api_types.h,node_api.h,node_api_types.h} .gpu/node-include/
cp ../shared/fixtures/lightly/* .gpu/fixtures/
# sharp (decoding) is never called on the GPU machine: it reads caches built here.
for entry in bench/gpu/gpu-main.ts bench/gpu/e2e.ts bench/gpu/ssl-gpu.ts bench/gpu/quality-gpu.ts; do
  node_modules/.bin/esbuild "$entry" --bundle --platform=node --format=esm --target=node20 \
    --alias:sharp=./bench/gpu/sharp-unavailable.mjs \
    --outfile=.gpu/bundle/$(basename "$entry" .ts).mjs --log-level=warning
done
# Images for the end-to-end comparison: a PNG folder (PyTorch's DataLoader reads it) and Winnow's
# decode cache of the same files (built here: the GPU machine has no sharp).
# Packed into .gpu/e2e.tar.xz (the folder's small files count by the block against the 64 MiB carry);
# 1,536 images leave room for the quality caches below.
if [ ! -f .gpu-e2e/cache-dir.txt ]; then
  npx tsx bench/gpu/e2e.ts --prepare "${E2E_IMAGES:-1536}" .gpu-e2e
fi
if [ ! -s .gpu/e2e.tar.xz ] || [ .gpu-e2e/cache-dir.txt -nt .gpu/e2e.tar.xz ]; then
  tar -cf - .gpu-e2e | xz -T2 -3 > .gpu/e2e.tar.xz
fi
# SSL quality with a GPU budget (bench/gpu/quality-gpu.ts): caches of the quality benches' folders and
# their raw-pixel baselines, xz-packed (27 MB of caches → ~6 MB) so they fit the carry with node.
if [ -n "${QUALITY:-}" ]; then
  npx tsx bench/gpu/quality-gpu.ts --prepare .gpu-quality
  tar -C .gpu-quality -cf - . | xz -T2 -6 > .gpu/quality.tar.xz
fi
du -sh --apparent-size .gpu
echo "carry: .gpu node_modules/node-addon-api   (64 MiB in all with the tracked files)"
