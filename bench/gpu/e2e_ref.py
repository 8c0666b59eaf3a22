"""PyTorch side of the end-to-end GPU training benchmark: a folder of PNG files, torchvision
transforms with lightly's collate recipe (two views per image), a DataLoader with N worker
processes, the lightly-like SimCLR model of bench/torch_ref.py, NT-Xent, SGD, a checkpoint per
epoch (as lightly's checkpoint callback). Prints one JSON line.
usage: python3 e2e_ref.py '{"folder": ..., "batch": 512, "epochs": 5, "size": 32, "workers": 16, "precision": 32}'
"""
import importlib.util
import json
import os
import sys
import time

import torch
import torchvision.transforms as T
from PIL import Image

cfg = json.loads(sys.argv[1])
spec = importlib.util.spec_from_file_location("torch_ref", "bench/torch_ref.py")
ref = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ref)


class Folder(torch.utils.data.Dataset):
    def __init__(self, root, transform):
        self.files = sorted(os.path.join(root, f) for f in os.listdir(root) if f.endswith(".png"))
        self.t = transform

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        img = Image.open(self.files[i]).convert("RGB")
        return self.t(img), self.t(img)


s = cfg["size"]
transform = T.Compose([
    T.RandomResizedCrop(s, scale=(0.15, 1.0)),
    T.RandomHorizontalFlip(0.5),
    T.RandomApply([T.ColorJitter(0.7, 0.7, 0.7, 0.2)], p=0.8),
    T.RandomGrayscale(0.2),
    T.RandomApply([T.GaussianBlur(13, sigma=(0.2, 2.0))], p=0.5),
    T.ToTensor(),
    T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
])
ds = Folder(cfg["folder"], transform)
dl = torch.utils.data.DataLoader(ds, batch_size=cfg["batch"], shuffle=True, drop_last=True, num_workers=cfg["workers"],
                                 pin_memory=True, persistent_workers=True, prefetch_factor=4)
dev = cfg.get("device", "cuda")
torch.backends.cudnn.benchmark = True
torch.manual_seed(0)
model = ref.SimCLR("resnet-18", 1.0, 32, 128).to(dev)
opt = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=1e-5)
amp = cfg.get("precision", 32) == 16
epochs = []
for epoch in range(cfg["epochs"]):
    t0 = time.perf_counter()
    n = 0
    for x0, x1 in dl:
        x0, x1 = x0.to(dev, non_blocking=True), x1.to(dev, non_blocking=True)
        with torch.autocast(dev.split(":")[0], dtype=torch.bfloat16, enabled=amp):
            z0, z1 = model(x0), model(x1)
        loss = ref.ntxent(z0.float(), z1.float())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        n += x0.shape[0]
    torch.save({"state_dict": model.state_dict(prefix="model.")}, "/tmp/e2e_ref_last.ckpt")
    torch.cuda.synchronize() if dev.startswith("cuda") else None
    epochs.append({"seconds": time.perf_counter() - t0, "images": n, "loss": loss.item()})
steady = epochs[1:]
ips = sum(e["images"] for e in steady) / sum(e["seconds"] for e in steady)
print(json.dumps({"torch": torch.__version__, "workers": cfg["workers"], "epochs": epochs, "images_per_s_after_first_epoch": ips}))
