"""PyTorch reference for the quality benches (bench/quality-emoji.ts, bench/quality-fashion.ts):
the same SimCLR recipe as bench/speed_ref.py (lightly's dataset + collate recipe in torchvision,
bench/torch_ref.py's model, NT-Xent, SGD), trained for a given number of steps, then the backbone
embeds a list of files (Resize((s, s)), ToTensor, Normalize; eval, no_grad), written as raw
little-endian float32 [N, num_ftrs] to `out`. Settings come as one JSON object on stdin; one JSON
object (timings, losses) is printed.
"""
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torchvision.transforms as T

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from speed_ref import MEAN, STD, FolderDataset, GaussianBlur, MultiViewCollate, worker_init  # noqa: E402
from torch_ref import SimCLR, ntxent  # noqa: E402


def main():
    c = json.loads(sys.stdin.read())
    torch.set_num_threads(c["threads"])
    torch.manual_seed(c["seed"])
    np.random.seed(c["seed"])
    s = c["input_size"]
    k = c.get("collate", {})
    tf = T.Compose([
        T.RandomResizedCrop(size=s, scale=(k.get("min_scale", 0.15), 1.0)),
        T.RandomHorizontalFlip(p=k.get("hf_prob", 0.5)),
        T.RandomVerticalFlip(p=k.get("vf_prob", 0.0)),
        T.RandomApply([T.ColorJitter(k.get("cj_bright", 0.7), k.get("cj_contrast", 0.7), k.get("cj_sat", 0.7), k.get("cj_hue", 0.2))], p=k.get("cj_prob", 0.8)),
        T.RandomGrayscale(p=k.get("random_gray_scale", 0.2)),
        GaussianBlur(k.get("gaussian_blur", 0.5), tuple(k.get("sigmas", (0.2, 2.0)))),
        T.ToTensor(),
        T.Normalize(MEAN, STD),
    ])
    model = SimCLR(c["model"], c["width"], c["num_ftrs"], c["out_dim"],
                   input_bn=c.get("input_batch_norm", True), feature_conv=c.get("feature_conv", True), head_bn=c.get("projection_head_batch_norm", False))
    opt = torch.optim.SGD(model.parameters(), lr=c["lr"], weight_decay=c["wd"], momentum=c["momentum"])
    ds = FolderDataset(c["root"], c["train_files"])
    t0 = time.perf_counter()
    steps, losses = 0, []
    model.train()
    while steps < c["steps"]:
        loader = torch.utils.data.DataLoader(ds, batch_size=c["batch"], shuffle=True, drop_last=True,
                                             num_workers=c["num_workers"], collate_fn=MultiViewCollate(tf), worker_init_fn=worker_init)
        for x0, x1, _, _ in loader:
            if c.get("lr_schedule") == "cosine":  # as Winnow's optimizer.lr_schedule: cosine
                t, total = steps, c["schedule_steps"]
                for g in opt.param_groups:
                    g["lr"] = 0.0 if t >= total - 1 else c["lr"] * (math.cos(math.pi * t / (total - 1)) + 1) / 2
            loss = ntxent(model(x0), model(x1), c["temperature"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            steps += 1
            if steps >= c["steps"]:
                break
    train_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    model.eval()
    ets = FolderDataset(c["root"], c["embed_files"], T.Compose([T.Resize((s, s)), T.ToTensor(), T.Normalize(MEAN, STD)]))
    out = []
    with torch.no_grad():
        for x, _, _ in torch.utils.data.DataLoader(ets, batch_size=c["batch"], shuffle=False, num_workers=c["num_workers"]):
            out.append(model.backbone(x).flatten(1).numpy())
    np.concatenate(out).astype("<f4").tofile(c["out"])
    print(json.dumps({"d": model.num_ftrs, "train_s": train_s, "embed_s": time.perf_counter() - t1, "steps": steps,
                      "loss_first": losses[0], "loss_last": losses[-1], "torch": torch.__version__}))


if __name__ == "__main__":
    main()
