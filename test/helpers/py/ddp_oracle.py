# The PyTorch side of test/distributed-gloo.test.ts: one rank of a real DistributedDataParallel run
# (torch.distributed, Gloo, env:// rendezvous from the environment). Rank 0 also trains the same model
# in one process on the whole batch and writes both final state dicts to argv[2].
import json
import sys

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

torch.set_num_threads(1)
spec = json.load(open(sys.argv[1]))


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(self.fc1(x).relu())


def model_from_spec():
    m = Tiny()
    m.load_state_dict({k: torch.tensor(v["values"], dtype=torch.float32).reshape(v["shape"]) for k, v in spec["weights"].items()})
    return m


def batches(step, lo, hi):
    x = torch.tensor(spec["x"][step], dtype=torch.float32).reshape(spec["batch"], 4)[lo:hi]
    y = torch.tensor(spec["y"][step], dtype=torch.float32).reshape(spec["batch"], 3)[lo:hi]
    return x, y


def train(model, lo, hi):
    opt = torch.optim.SGD(model.parameters(), lr=spec["lr"], momentum=spec["momentum"])
    for step in range(spec["steps"]):
        x, y = batches(step, lo, hi)
        opt.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        opt.step()


dist.init_process_group("gloo", init_method="env://")
rank, world = dist.get_rank(), dist.get_world_size()
torch.manual_seed(1234 + rank)
model = model_from_spec() if rank == 0 else Tiny()  # rank 1 starts elsewhere: DDP broadcasts rank 0's
ddp = DistributedDataParallel(model, bucket_cap_mb=spec["bucketCapMB"])
per = spec["batch"] // world
train(ddp, rank * per, (rank + 1) * per)
dist.barrier()
if rank == 0:
    single = model_from_spec()
    train(single, 0, spec["batch"])
    flat = lambda m: {k: v.flatten().tolist() for k, v in m.state_dict().items()}
    json.dump({"ddp": flat(model), "single": flat(single)}, open(sys.argv[2], "w"))
dist.destroy_process_group()
