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
if [ ! -f .gpu-e2e/cache-dir.txt ]; then
  npx tsx bench/gpu/e2e.ts --prepare "${E2E_IMAGES:-2048}" .gpu-e2e
fi
# SSL quality with a GPU budget (bench/gpu/quality-gpu.ts): caches of the quality benches' folders and
# their raw-pixel baselines, xz-packed (27 MB of caches → ~6 MB) so they fit the carry with node.
if [ -n "${QUALITY:-}" ]; then
  npx tsx bench/gpu/quality-gpu.ts --prepare .gpu-quality
  tar -C .gpu-quality -cf - . | xz -T2 -6 > .gpu/quality.tar.xz
fi
du -sh --apparent-size .gpu .gpu-e2e
echo "carry: .gpu .gpu-e2e node_modules/node-addon-api   (64 MiB in all)"
