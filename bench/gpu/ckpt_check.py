"""Checkpoints both ways with the PyTorch of the machine this runs on (torch 2.x on the GPU machine).
Reads <dir>/winnow.ckpt (written by Winnow) with torch.load(weights_only=True) into a plain-PyTorch
copy of the architecture (bench/torch_ref.py), and writes <dir>/torch-written.ckpt for Winnow to read.
usage: python3 ckpt_check.py '{"dir": "...", "ref": "bench/torch_ref.py"}'
"""
import importlib.util
import json
import sys
import zipfile

import numpy as np
import torch

cfg = json.loads(sys.argv[1])
d = cfg["dir"]
spec = importlib.util.spec_from_file_location("torch_ref", cfg["ref"])
ref = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ref)

x = torch.from_numpy(np.fromfile(f"{d}/x.f32", dtype="<f4").reshape(2, 3, 32, 32).copy())

ckpt = torch.load(f"{d}/winnow.ckpt", weights_only=True)
sd = {k[len("model."):]: v for k, v in ckpt["state_dict"].items()}
m = ref.SimCLR("resnet-18", 0.25, 32, 64)
m.load_state_dict(sd, strict=True)
m.eval()
with torch.no_grad():
    m.backbone(x).flatten(1).numpy().astype("<f4").tofile(f"{d}/torch-from-winnow.f32")

torch.manual_seed(5)
m2 = ref.SimCLR("resnet-18", 0.25, 32, 64)
m2.train()
with torch.no_grad():
    for _ in range(2):
        m2(torch.randn(8, 3, 32, 32))
m2.eval()
torch.save({"state_dict": m2.state_dict(prefix="model.")}, f"{d}/torch-written.ckpt")
with torch.no_grad():
    m2.backbone(x).flatten(1).numpy().astype("<f4").tofile(f"{d}/torch-written.f32")
records = [n.split("/", 1)[1] for n in zipfile.ZipFile(f"{d}/torch-written.ckpt").namelist() if not n.split("/", 1)[1].startswith("data/")]
print(json.dumps({"torch": torch.__version__, "records": records, "keys": len(sd)}))
