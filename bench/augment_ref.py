"""PyTorch side of bench/augment.ts: lightly's collate recipe run image by image, as a
DataLoader's collate function runs it.

Two inputs: "pil" takes PIL images (what lightly's ImageCollateFunction gets from its dataset:
uint8 throughout, PIL resampling and PIL's GaussianBlur), "tensor" takes uint8 [3, S, S] tensors
through torchvision's tensor kernels (float blur as torchvision's GaussianBlur). Same parameters:
lightly_config.collate defaults.

Line protocol on stdin/stdout (one JSON object per line):
  {"op": "setup", "batch": 256, "size": 72, "out": 64, "threads": 2}
  {"op": "step", "path": "pil" | "tensor", "images": n}   → {"ms": ...} for 2 views of n images
"""
import json
import sys
import time

import numpy as np
import torch
import torchvision.transforms as T
from PIL import Image, ImageFilter

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


class PilBlur:
    """With probability p, PIL's GaussianBlur with radius (= sigma) drawn uniformly from sigmas."""

    def __init__(self, p, sigmas):
        self.p, self.sigmas = p, sigmas

    def __call__(self, img):
        if np.random.random_sample() >= self.p:
            return img
        return img.filter(ImageFilter.GaussianBlur(radius=np.random.uniform(*self.sigmas)))


def recipe(out, blur):
    return T.Compose([
        T.RandomResizedCrop(size=out, scale=(0.15, 1.0)),
        T.RandomHorizontalFlip(p=0.5),
        T.RandomVerticalFlip(p=0.0),
        T.RandomApply([T.ColorJitter(0.7, 0.7, 0.7, 0.2)], p=0.8),
        T.RandomGrayscale(p=0.2),
        blur,
    ])


def main():
    state = {}
    for line in sys.stdin:
        c = json.loads(line)
        if c["op"] == "setup":
            torch.set_num_threads(c["threads"])
            torch.manual_seed(0)
            np.random.seed(0)
            b, s, out = c["batch"], c["size"], c["out"]
            arr = np.random.randint(0, 256, (b, s, s, 3), dtype=np.uint8)
            state["pil_imgs"] = [Image.fromarray(a) for a in arr]
            state["t_imgs"] = torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()
            state["pil"] = T.Compose([recipe(out, PilBlur(0.5, (0.2, 2.0))), T.ToTensor(), T.Normalize(MEAN, STD)])
            k = 2 * int(np.ceil(3 * 2.0)) + 1
            state["tensor"] = T.Compose([
                recipe(out, T.RandomApply([T.GaussianBlur(k, (0.2, 2.0))], p=0.5)),
                T.ConvertImageDtype(torch.float32), T.Normalize(MEAN, STD),
            ])
            print(json.dumps({"ok": True, "torch": torch.__version__}), flush=True)
        elif c["op"] == "step":
            tf = state[c["path"]]
            imgs = state["pil_imgs"] if c["path"] == "pil" else state["t_imgs"]
            n = c["images"]
            t = time.perf_counter()
            views = [torch.stack([tf(imgs[i]) for i in range(n)]) for _ in range(2)]
            ms = (time.perf_counter() - t) * 1e3
            assert views[0].shape[0] == n
            print(json.dumps({"ms": ms}), flush=True)
        elif c["op"] == "quit":
            break


if __name__ == "__main__":
    main()
