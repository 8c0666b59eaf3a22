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
for entry in bench/gpu/gpu-main.ts; do
  node_modules/.bin/esbuild "$entry" --bundle --platform=node --format=esm --target=node20 \
    --outfile=.gpu/bundle/$(basename "$entry" .ts).mjs --log-level=warning
done
du -sh .gpu
