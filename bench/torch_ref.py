"""PyTorch side of Winnow's benchmarks: the same workloads in plain PyTorch eager.

A plain-PyTorch copy of lightly's ResNetGenerator-based SimCLR model (CIFAR stem, no stem ReLU
in the Sequential form, 1x1 conv to num_ftrs, adaptive pooling, plain projection head), the
NT-Xent loss as lightly computes it, SGD. Prints one JSON object.
usage: python3 torch_ref.py '{"device": "cuda", "threads": 2, "tasks": [...]}'
"""
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != planes * 4:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, planes * 4, 1, stride, bias=False), nn.BatchNorm2d(planes * 4))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


ARCH = {
    "resnet-9": (BasicBlock, [1, 1, 1, 1]),
    "resnet-18": (BasicBlock, [2, 2, 2, 2]),
    "resnet-34": (BasicBlock, [3, 4, 6, 3]),
    "resnet-50": (Bottleneck, [3, 4, 6, 3]),
}


def backbone(name="resnet-18", width=1.0, num_ftrs=32, input_bn=True, feature_conv=True):
    """The worker/docs backbone; input_bn=False, feature_conv=False: lightly's library backbone
    (Sequential(*ResNetGenerator(...).children()[:-1], AdaptiveAvgPool2d(1)))."""
    block, layers = ARCH[name]
    base = int(64 * width)
    mods = [nn.BatchNorm2d(3)] if input_bn else []
    mods += [nn.Conv2d(3, base, 3, 1, 1, bias=False), nn.BatchNorm2d(base)]
    cin = base
    for i, n in enumerate(layers):
        planes = base * 2**i
        blocks = []
        for j in range(n):
            blocks.append(block(cin, planes, (1 if i == 0 else 2) if j == 0 else 1))
            cin = planes * block.expansion
        mods.append(nn.Sequential(*blocks))
    if feature_conv:
        mods.append(nn.Conv2d(cin, num_ftrs, 1, bias=True))
    mods.append(nn.AdaptiveAvgPool2d(1))
    return nn.Sequential(*mods)


def feature_dim(name, width):
    block, _ = ARCH[name]
    return int(64 * width) * 8 * block.expansion


class SimCLR(nn.Module):
    """The worker's SimCLR (defaults) or, with input_bn=False, feature_conv=False, head_bn=True,
    lightly's library SimCLR: its benchmark backbone and SimCLRProjectionHead(d, d, out_dim)."""

    def __init__(self, name="resnet-18", width=1.0, num_ftrs=32, out_dim=128, input_bn=True, feature_conv=True, head_bn=False):
        super().__init__()
        if not feature_conv:
            num_ftrs = feature_dim(name, width)
        self.num_ftrs = num_ftrs
        self.backbone = backbone(name, width, num_ftrs, input_bn, feature_conv)
        self.projection_head = nn.Module()
        if head_bn:
            self.projection_head.layers = nn.Sequential(
                nn.Linear(num_ftrs, num_ftrs, bias=False), nn.BatchNorm1d(num_ftrs), nn.ReLU(),
                nn.Linear(num_ftrs, out_dim, bias=False), nn.BatchNorm1d(out_dim))
        else:
            self.projection_head.layers = nn.Sequential(nn.Linear(num_ftrs, num_ftrs), nn.ReLU(), nn.Linear(num_ftrs, out_dim))

    def forward(self, x):
        return self.projection_head.layers(self.backbone(x).flatten(1))


def ntxent(z0, z1, t=0.5):
    z0, z1 = F.normalize(z0, dim=1), F.normalize(z1, dim=1)
    b = z0.shape[0]
    off = ~torch.eye(b, dtype=torch.bool, device=z0.device)
    l00 = (z0 @ z0.T / t)[off].view(b, b - 1)
    l11 = (z1 @ z1.T / t)[off].view(b, b - 1)
    l01, l10 = z0 @ z1.T / t, z1 @ z0.T / t
    logits = torch.cat([torch.cat([l01, l00], 1), torch.cat([l10, l11], 1)], 0)
    labels = torch.arange(b, device=z0.device).repeat(2)
    return F.cross_entropy(logits, labels)


def sync(dev):
    if dev.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, dev, warmup, iters):
    for _ in range(warmup):
        fn()
    sync(dev)
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        sync(dev)
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def train_step_task(task, dev):
    torch.manual_seed(0)
    cl = task.get("channels_last", False)
    model = SimCLR(task.get("model", "resnet-18"), task.get("width", 1.0)).to(dev)
    if cl:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.06, momentum=0.9, weight_decay=5e-4)
    b, s = task["batch"], task["size"]
    x0 = torch.randn(b, 3, s, s, device=dev)
    x1 = torch.randn(b, 3, s, s, device=dev)
    if cl:
        x0, x1 = x0.contiguous(memory_format=torch.channels_last), x1.contiguous(memory_format=torch.channels_last)
    amp = task.get("autocast")

    def step():
        opt.zero_grad(set_to_none=True)
        if amp:
            with torch.autocast(device_type=dev.split(":")[0], dtype=getattr(torch, amp)):
                z = model(torch.cat([x0, x1]))
        else:
            z = model(torch.cat([x0, x1]))
        loss = ntxent(z[:b].float(), z[b:].float())
        loss.backward()
        opt.step()

    ms = timed(step, dev, task.get("warmup", 3), task.get("iters", 10)) * 1000
    return {"ms_per_step": ms, "images_per_s": 2 * b / ms * 1000}


def embed_task(task, dev):
    torch.manual_seed(0)
    model = SimCLR(task.get("model", "resnet-18"), task.get("width", 1.0)).to(dev).eval()
    cl = task.get("channels_last", False)
    if cl:
        model = model.to(memory_format=torch.channels_last)
    x = torch.randn(task["batch"], 3, task["size"], task["size"], device=dev)
    if cl:
        x = x.contiguous(memory_format=torch.channels_last)

    def run():
        with torch.no_grad():
            model.backbone(x).flatten(1)

    ms = timed(run, dev, task.get("warmup", 3), task.get("iters", 10)) * 1000
    return {"ms_per_batch": ms, "images_per_s": task["batch"] / ms * 1000}


def diversity_task(task, dev):
    torch.manual_seed(0)
    x = F.normalize(torch.randn(task["n"], task["dim"], device=dev), dim=1)
    k = task["k"]

    def run():
        with torch.no_grad():
            sq = (x * x).sum(1)
            mind = torch.full((x.shape[0],), float("inf"), device=dev)
            picks = []
            for _ in range(k):
                v, i = mind.max(0)
                c = x.index_select(0, i.view(1))
                d = sq - 2 * (x @ c.T).squeeze(1) + (c * c).sum()
                mind = torch.minimum(mind, d.clamp_min(0))
                mind[i.view(1)] = float("-inf")
                picks.append(i)
            return torch.stack(picks).cpu()

    t0 = time.perf_counter()
    run()
    sync(dev)
    return {"seconds": time.perf_counter() - t0}


def main():
    cfg = json.loads(sys.argv[1])
    torch.set_num_threads(cfg.get("threads", torch.get_num_threads()))
    dev = cfg.get("device", "cpu")
    if dev.startswith("cuda"):
        torch.backends.cudnn.benchmark = cfg.get("cudnn_benchmark", True)
    out = {"torch": torch.__version__, "device": dev, "results": []}
    if dev.startswith("cuda"):
        out["gpu"] = torch.cuda.get_device_name(0)
    for task in cfg["tasks"]:
        fn = {"train_step": train_step_task, "embed": embed_task, "diversity": diversity_task}[task["kind"]]
        out["results"].append({"task": task, **fn(task, dev)})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
