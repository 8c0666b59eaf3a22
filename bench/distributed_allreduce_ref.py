# PyTorch side of bench/distributed-allreduce.ts: one rank (env:// from the environment) timing
# dist.all_reduce (Gloo, sum) on float32 tensors of each size; rank 0 prints the times as JSON.
import json
import sys
import time

import torch
import torch.distributed as dist

sizes, iters, warmup = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(1)
dist.init_process_group("gloo", init_method="env://")
out = {}
for n in sizes:
    t = torch.ones(n)
    times = []
    for i in range(warmup + iters):
        dist.barrier()
        t0 = time.perf_counter()
        dist.all_reduce(t)
        if i >= warmup:
            times.append((time.perf_counter() - t0) * 1000)
    out[str(n)] = times
if dist.get_rank() == 0:
    print(json.dumps(out))
dist.destroy_process_group()
