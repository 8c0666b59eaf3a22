#!/usr/bin/env bash
# Runs ON the lent GPU machine (device tool), from the repository root, after scripts/gpu-prepare.sh
# ran on the CPU machine. Carry: .gpu and node_modules/node-addon-api. One call does everything:
#   1. unpack the carried node, 2. build the addon against the pip torch there (CUDA linked),
#   3. CUDA-vs-CPU parity (ops, fixture models, training steps, checkpoints with torch 2.x),
#   4. GPU benchmarks vs PyTorch eager. Results go to $OUT.
set -uo pipefail
OUT=${OUT:-/tmp/winnow-gpu-out}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/gpu-check.log") 2>&1
t0=$(date +%s)
echo "== machine"; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; nproc
mkdir -p /tmp/wnode/bin
xz -dc .gpu/node.xz > /tmp/wnode/bin/node && chmod +x /tmp/wnode/bin/node
export PATH=/tmp/wnode/bin:$PATH
echo "node $(node --version)"
PY=${PY:-python3}
export LIBTORCH=$($PY -c 'import torch,os;print(os.path.dirname(torch.__file__))')
echo "torch $($PY -c 'import torch;print(torch.__version__, torch.version.cuda, torch._C._GLIBCXX_USE_CXX11_ABI)') at $LIBTORCH"
node scripts/torch-config.mjs describe
export WINNOW_NODE_INCLUDE=$PWD/.gpu/node-include
if ! node scripts/build-native.mjs --direct > "$OUT/build.log" 2>&1; then
  echo "BUILD FAILED"; grep -m 20 -E "error" "$OUT/build.log"; exit 1
fi
echo "built in $(( $(date +%s) - t0 )) s"
export WINNOW_NATIVE=$PWD/build/Release/winnow_native.node
rc=0
if [ -z "${SKIP_MAIN:-}" ]; then
  node .gpu/bundle/gpu-main.mjs --device "${DEVICE:-cuda}" --python "$PY" --fixtures .gpu/fixtures --out "$OUT" ${GPU_ARGS:-}
  rc=$?
fi
# End-to-end training throughput vs a PyTorch DataLoader (the image set packed by gpu-prepare.sh).
if [ -f .gpu/e2e.tar.xz ] && [ ! -d .gpu-e2e ]; then xz -dc .gpu/e2e.tar.xz | tar -xf -; fi
if [ -d .gpu-e2e ] && [ -f .gpu/bundle/e2e.mjs ]; then
  node .gpu/bundle/e2e.mjs --data .gpu-e2e --out "$OUT" --python "$PY" --device "${DEVICE:-cuda}" ${E2E_ARGS:-} || rc=1
fi
# SSL quality with a GPU budget (needs .gpu/quality.tar.xz from `QUALITY=1 scripts/gpu-prepare.sh`).
if [ -f .gpu/quality.tar.xz ] && [ -z "${SKIP_QUALITY:-}" ]; then
  mkdir -p /tmp/wquality && xz -dc .gpu/quality.tar.xz | tar -C /tmp/wquality -xf -
  node .gpu/bundle/quality-gpu.mjs --data /tmp/wquality --out "$OUT" --device "${DEVICE:-cuda}" ${QUALITY_ARGS:-} || rc=1
fi
echo "total $(( $(date +%s) - t0 )) s, rc=$rc"
exit $rc
