# The PyTorch side of test/distributed-train.test.ts: one rank of a real DistributedDataParallel
# SimCLR run (torch.distributed, Gloo, env:// rendezvous): the lightly-like model (lightly_like.py)
# from Winnow's rank-0 initial weights, the views Winnow's trainer drew (files), lightly's NT-Xent
# with gather_distributed=True (GatherLayer: all_gather forward, all_reduce backward), SGD.
# Rank 0 writes its final float tensors as JSON to argv[2].
import json
import sys

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from lightly_like import SimCLRModel

torch.set_num_threads(1)
d, spec = sys.argv[1], json.loads(sys.argv[3])


def load(name):
    meta = json.load(open(f"{d}/{name}.json"))
    flat = torch.from_numpy(np.fromfile(f"{d}/{name}", dtype="<f4"))
    out, o = {}, 0
    for k, shape in meta:
        n = int(np.prod(shape)) if shape else 1
        out[k] = flat[o:o + n].reshape(shape).clone()
        o += n
    return out


class Gather(torch.autograd.Function):
    # As lightly.utils.dist.GatherLayer.
    @staticmethod
    def forward(ctx, x):
        out = [torch.zeros_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(out, x)
        return tuple(out)

    @staticmethod
    def backward(ctx, *grads):
        g = torch.stack(grads)
        dist.all_reduce(g)
        return g[dist.get_rank()]


def nt_xent_gathered(out0, out1, t):
    # lightly's NTXentLoss.forward, gather_distributed=True, no memory bank.
    n, rank, world = out0.shape[0], dist.get_rank(), dist.get_world_size()
    out0, out1 = F.normalize(out0, dim=1), F.normalize(out1, dim=1)
    big0, big1 = torch.cat(Gather.apply(out0), 0), torch.cat(Gather.apply(out1), 0)
    diag = torch.zeros(n, n * world, dtype=torch.bool)
    diag[:, rank * n:(rank + 1) * n] = torch.eye(n, dtype=torch.bool)
    l00 = torch.einsum("nc,mc->nm", out0, big0) / t
    l01 = torch.einsum("nc,mc->nm", out0, big1) / t
    l10 = torch.einsum("nc,mc->nm", out1, big0) / t
    l11 = torch.einsum("nc,mc->nm", out1, big1) / t
    l00, l11 = l00[~diag].view(n, -1), l11[~diag].view(n, -1)
    logits = torch.cat([torch.cat([l01, l00], 1), torch.cat([l10, l11], 1)], 0)
    labels = (torch.arange(n) + rank * n).repeat(2)
    return F.cross_entropy(logits, labels)


dist.init_process_group("gloo", init_method="env://")
rank = dist.get_rank()
m = spec["model"]
model = SimCLRModel(m["name"], m["width"], m["num_ftrs"], m["out_dim"], m["projection_head_batch_norm"])
init = load("init.f32")
missing, unexpected = model.load_state_dict(init, strict=False)
assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
model = model.to(memory_format=torch.channels_last)
# broadcast_buffers=False: with it, DDP's second forward of a step (view 1) overwrites the BatchNorm
# statistics the first one saved for backward (an autograd error on the CPU). Rank 0's buffers are
# the same either way (the broadcast goes from rank 0); Winnow keeps each rank's own.
ddp = DistributedDataParallel(model, broadcast_buffers=False)
opt = torch.optim.SGD(model.parameters(), lr=spec["lr"], momentum=spec["momentum"], weight_decay=spec["weight_decay"])
losses = []
for step in range(spec["steps"]):
    v = load(f"views-r{rank}-s{step}.f32")
    loss = nt_xent_gathered(ddp(v["v0"]), ddp(v["v1"]), spec["temperature"])
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())
dist.barrier()
out = {"losses": losses}
if rank == 0:
    out["weights"] = {k: v.contiguous().flatten().tolist() for k, v in model.state_dict().items() if v.dtype == torch.float32}
json.dump(out, open(f"{sys.argv[2]}.{rank}", "w"))
dist.destroy_process_group()
