# PyTorch side of bench/distributed-step.ts: one rank (env:// from the environment) of a
# DistributedDataParallel SimCLR step (lightly-like model, lightly's gathered NT-Xent, SGD) on fixed
# random views; rank 0 prints the step times (ms) as JSON.
import json
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "helpers", "py"))
from lightly_like import SimCLRModel  # noqa: E402

spec = json.loads(sys.argv[1])
torch.set_num_threads(1)
dist.init_process_group("gloo", init_method="env://")
rank, world = dist.get_rank(), dist.get_world_size()


class Gather(torch.autograd.Function):
    # As lightly.utils.dist.GatherLayer.
    @staticmethod
    def forward(ctx, x):
        out = [torch.zeros_like(x) for _ in range(world)]
        dist.all_gather(out, x)
        return tuple(out)

    @staticmethod
    def backward(ctx, *grads):
        g = torch.stack(grads)
        dist.all_reduce(g)
        return g[rank]


def nt_xent(out0, out1, t):
    # lightly's NTXentLoss, gather_distributed=True.
    n = out0.shape[0]
    out0, out1 = F.normalize(out0, dim=1), F.normalize(out1, dim=1)
    big0, big1 = torch.cat(Gather.apply(out0), 0), torch.cat(Gather.apply(out1), 0)
    diag = torch.zeros(n, n * world, dtype=torch.bool)
    diag[:, rank * n:(rank + 1) * n] = torch.eye(n, dtype=torch.bool)
    l00, l01 = out0 @ big0.t() / t, out0 @ big1.t() / t
    l10, l11 = out1 @ big0.t() / t, out1 @ big1.t() / t
    l00, l11 = l00[~diag].view(n, -1), l11[~diag].view(n, -1)
    logits = torch.cat([torch.cat([l01, l00], 1), torch.cat([l10, l11], 1)], 0)
    return F.cross_entropy(logits, (torch.arange(n) + rank * n).repeat(2))


torch.manual_seed(1)
model = SimCLRModel(spec["name"], spec["width"], spec["numFtrs"], spec["outDim"], True).to(memory_format=torch.channels_last)
ddp = DistributedDataParallel(model, broadcast_buffers=False)
opt = torch.optim.SGD(model.parameters(), lr=spec["lr"], momentum=0.9, weight_decay=5e-4)
torch.manual_seed(100 + rank)
times = []
for i in range(spec["warmup"] + spec["steps"]):
    shape = (spec["batch"], 3, spec["size"], spec["size"])
    v0, v1 = torch.randn(shape), torch.randn(shape)
    dist.barrier()
    t0 = time.perf_counter()
    loss = nt_xent(ddp(v0), ddp(v1), spec["temperature"])
    opt.zero_grad()
    loss.backward()
    opt.step()
    loss.item()
    if i >= spec["warmup"]:
        times.append((time.perf_counter() - t0) * 1000)
if rank == 0:
    print(json.dumps({"times": times}))
dist.destroy_process_group()
