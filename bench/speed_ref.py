"""PyTorch side of bench/speed-train.ts: the same SimCLR recipe as Lightly runs it, in plain PyTorch.

Data: a folder of image files read with PIL (Image.open(...).convert("RGB"), as lightly's
LightlyDataset), two views per image made in the DataLoader's collate function with lightly's
ImageCollateFunction recipe in torchvision transforms (RandomResizedCrop(scale=(min_scale, 1)),
RandomHorizontalFlip 0.5, RandomApply(ColorJitter(0.7, 0.7, 0.7, 0.2), 0.8), RandomGrayscale 0.2,
lightly's PIL GaussianBlur with probability 0.5 and sigma in [0.2, 2], ToTensor, Normalize(ImageNet)).
Model: bench/torch_ref.py's SimCLR (lightly's ResNetGenerator backbone, plain projection head), each
view through the model separately (as lightly's SimCLR model is called), NT-Xent, SGD.

Line protocol on stdin/stdout, one JSON object per line:
  {"op": "setup", "root": ..., "files": [...], "threads": 2, "batch": 128, "input_size": 32,
   "model": "resnet-18", "width": 0.25, "num_ftrs": 32, "out_dim": 128, "lr": 1, "wd": 1e-5,
   "momentum": 0, "temperature": 0.5, "min_scale": 0.15, "seed": 1}
  {"op": "train_epoch", "num_workers": 2}       one epoch (shuffle, drop_last), timings
  {"op": "data_epoch", "num_workers": 2}        the same loader without the model
  {"op": "model_steps", "steps": 5, "channels_last": false}   model step on fixed random views (no data)
  {"op": "embed_epoch", "num_workers": 2}       Resize((s, s)), ToTensor, Normalize; backbone, eval, no_grad
  {"op": "embed_model", "batches": 5}           backbone on fixed random input
  {"op": "quit"}
"""
import json
import os
import resource
import sys
import time

import numpy as np
import torch
import torchvision.transforms as T
from PIL import Image, ImageFilter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_ref import SimCLR, ntxent  # noqa: E402

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


class GaussianBlur:
    """lightly.transforms.GaussianBlur: with probability prob, PIL GaussianBlur(radius=sigma), sigma ~ U(sigmas)."""

    def __init__(self, prob=0.5, sigmas=(0.2, 2.0)):
        self.prob, self.sigmas = prob, sigmas

    def __call__(self, img):
        if np.random.random_sample() < self.prob:
            return img.filter(ImageFilter.GaussianBlur(radius=np.random.uniform(*self.sigmas)))
        return img


class FolderDataset(torch.utils.data.Dataset):
    """lightly's LightlyDataset on a folder: (PIL RGB image, label 0, filename)."""

    def __init__(self, root, files, transform=None):
        self.root, self.files, self.transform = root, files, transform

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        with open(os.path.join(self.root, self.files[i]), "rb") as f:
            img = Image.open(f).convert("RGB")
        if self.transform is not None:
            img = self.transform(img)
        return img, 0, self.files[i]


class MultiViewCollate:
    """lightly's ImageCollateFunction: two independently transformed views of each image."""

    def __init__(self, transform):
        self.transform = transform

    def __call__(self, batch):
        views = [torch.stack([self.transform(img) for img, _, _ in batch]) for _ in range(2)]
        return views[0], views[1], torch.tensor([b[1] for b in batch]), [b[2] for b in batch]


def worker_init(_):
    np.random.seed((torch.initial_seed() + _) % 2**32)


def children_cpu_ms():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (r.ru_utime + r.ru_stime) * 1e3


class Clock:
    """Wall time and CPU time of this process plus the loader's worker processes: the workers are
    joined when the iterator is exhausted, so their CPU time is in RUSAGE_CHILDREN by then."""

    def __init__(self):
        self.t = time.perf_counter()
        self.c = time.process_time()
        self.k = children_cpu_ms()

    def done(self):
        worker = children_cpu_ms() - self.k
        return {"ms": (time.perf_counter() - self.t) * 1e3, "cpu_ms": (time.process_time() - self.c) * 1e3 + worker, "worker_cpu_ms": worker}


def main():
    st = {}

    def reply(**kw):
        sys.stdout.write(json.dumps(kw) + "\n")
        sys.stdout.flush()

    for line in sys.stdin:
        c = json.loads(line)
        op = c["op"]
        if op == "setup":
            torch.set_num_threads(c["threads"])
            torch.manual_seed(c.get("seed", 1))
            np.random.seed(c.get("seed", 1))
            s = c["input_size"]
            train_tf = T.Compose([
                T.RandomResizedCrop(size=s, scale=(c.get("min_scale", 0.15), 1.0)),
                T.RandomHorizontalFlip(p=0.5),
                T.RandomVerticalFlip(p=0.0),
                T.RandomApply([T.ColorJitter(0.7, 0.7, 0.7, 0.2)], p=0.8),
                T.RandomGrayscale(p=0.2),
                GaussianBlur(0.5, (0.2, 2.0)),
                T.ToTensor(),
                T.Normalize(MEAN, STD),
            ])
            embed_tf = T.Compose([T.Resize((s, s)), T.ToTensor(), T.Normalize(MEAN, STD)])
            model = SimCLR(c["model"], c["width"], c.get("num_ftrs", 32), c.get("out_dim", 128))
            opt = torch.optim.SGD(model.parameters(), lr=c["lr"], weight_decay=c["wd"], momentum=c["momentum"])
            st = dict(cfg=c, model=model, opt=opt,
                      train_ds=FolderDataset(c["root"], c["files"]), embed_ds=FolderDataset(c["root"], c["files"], embed_tf),
                      collate=MultiViewCollate(train_tf))
            reply(ok=True, torch=torch.__version__, threads=torch.get_num_threads(), params=sum(p.numel() for p in model.parameters()))
        elif op in ("train_epoch", "data_epoch"):
            cfg, model, opt = st["cfg"], st["model"], st["opt"]
            nw = c.get("num_workers", 0)
            loader = torch.utils.data.DataLoader(st["train_ds"], batch_size=cfg["batch"], shuffle=True, drop_last=True,
                                                 num_workers=nw, collate_fn=st["collate"], worker_init_fn=worker_init)
            model.train()
            clock = Clock()
            it = iter(loader)
            steps, images, losses, data_ms, step_ms = 0, 0, [], 0.0, 0.0
            t_prev = time.perf_counter()
            for x0, x1, _, _ in it:
                t_got = time.perf_counter()
                data_ms += (t_got - t_prev) * 1e3
                if op == "train_epoch":
                    loss = ntxent(model(x0), model(x1), cfg["temperature"])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    losses.append(loss.item())
                t_prev = time.perf_counter()
                step_ms += (t_prev - t_got) * 1e3
                steps += 1
                images += x0.shape[0]
            del it
            reply(**clock.done(), steps=steps, images=images, wait_data_ms=data_ms, model_ms=step_ms,
                  loss=float(np.mean(losses)) if losses else None)
        elif op == "model_steps":
            cfg, model, opt = st["cfg"], st["model"], st["opt"]
            b, s = cfg["batch"], cfg["input_size"]
            g = torch.Generator().manual_seed(0)
            x0, x1 = torch.randn(b, 3, s, s, generator=g), torch.randn(b, 3, s, s, generator=g)
            if c.get("channels_last"):
                # a separate copy of the model in channels_last (NHWC) memory format, as Winnow's
                # channels_last runner; lightly itself trains NCHW
                if "cl" not in st:
                    m = SimCLR(cfg["model"], cfg["width"], cfg.get("num_ftrs", 32), cfg.get("out_dim", 128)).to(memory_format=torch.channels_last)
                    st["cl"] = (m, torch.optim.SGD(m.parameters(), lr=cfg["lr"], weight_decay=cfg["wd"], momentum=cfg["momentum"]))
                model, opt = st["cl"]
                x0, x1 = x0.contiguous(memory_format=torch.channels_last), x1.contiguous(memory_format=torch.channels_last)
            model.train()
            out = []
            for _ in range(c["steps"]):
                t, cp = time.perf_counter(), time.process_time()
                f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                loss = ntxent(model(x0), model(x1), cfg["temperature"])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                loss.item()
                out.append({"ms": (time.perf_counter() - t) * 1e3, "cpu_ms": (time.process_time() - cp) * 1e3,
                            "minflt": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0})
            reply(steps=out)
        elif op == "embed_epoch":
            cfg, model = st["cfg"], st["model"]
            nw = c.get("num_workers", 0)
            loader = torch.utils.data.DataLoader(st["embed_ds"], batch_size=cfg["batch"], shuffle=False, drop_last=False, num_workers=nw)
            model.eval()
            clock = Clock()
            it = iter(loader)
            n = 0
            with torch.no_grad():
                for x, _, _ in it:
                    e = model.backbone(x).flatten(1)
                    e.numpy().copy()  # as lightly's embed collects them
                    n += x.shape[0]
            del it
            reply(**clock.done(), images=n)
        elif op == "embed_model":
            cfg, model = st["cfg"], st["model"]
            b, s = cfg["batch"], cfg["input_size"]
            x = torch.randn(b, 3, s, s, generator=torch.Generator().manual_seed(0))
            model.eval()
            out = []
            with torch.no_grad():
                for _ in range(c["batches"]):
                    t, cp = time.perf_counter(), time.process_time()
                    model.backbone(x).flatten(1).numpy().copy()
                    out.append({"ms": (time.perf_counter() - t) * 1e3, "cpu_ms": (time.process_time() - cp) * 1e3})
            reply(batches=out)
        elif op == "quit":
            break


if __name__ == "__main__":
    main()
