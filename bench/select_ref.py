"""PyTorch side of bench/select-speed.ts: k-center greedy (farthest point) written plainly in PyTorch.

Reads the same float32 embeddings file the TypeScript side used; same start (sample 0), same update
(||x||^2 - 2 x.c + ||c||^2, running minimum). Prints one JSON object.
usage: python3 select_ref.py FILE N DIM K DEVICE THREADS
"""
import json
import sys
import time

import numpy as np
import torch

path, n, dim, k, device, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
torch.set_num_threads(threads)
x = torch.from_numpy(np.fromfile(path, dtype=np.float32).reshape(n, dim)).to(device)


def kcenter(x, k):
    sq = (x * x).sum(1)
    min_d = torch.full((x.shape[0],), float("inf"), device=x.device)
    picks = torch.empty(k, dtype=torch.long, device=x.device)
    for i in range(k):
        j = torch.argmax(min_d)
        picks[i] = j
        d = sq - 2 * (x @ x[j]) + sq[j]
        torch.minimum(min_d, d, out=min_d)
        min_d[j] = -float("inf")
    return picks.cpu()


with torch.no_grad():
    kcenter(x, 3)  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    picks = kcenter(x, k)
    if device == "cuda":
        torch.cuda.synchronize()
    sec = time.perf_counter() - t
print(json.dumps({"seconds": sec, "picks": picks[:20].tolist(), "torch": torch.__version__}))
