# PyTorch eager reference for bench/embed-backbones.ts: images/s of torchvision's resnet50 and the
# plain-PyTorch DINOv2 ViT (test/helpers/py/pretrained_ref.py) on random normalised batches, eval,
# no_grad, the same threads, batch and number of batches. Prints one JSON line.
import json, os, sys, time
import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "test", "helpers", "py"))
from pretrained_ref import DinoViT  # noqa: E402

args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
threads, batch, batches, size = (int(args[k]) for k in ["--threads", "--batch", "--batches", "--size"])
name = args["--model"]
torch.set_num_threads(threads)
torch.manual_seed(0)
if name.startswith("torchvision/"):
    model = getattr(torchvision.models, name.split("/")[1])(weights=None)
    model.fc = torch.nn.Identity()  # the pooled features, as Winnow embeds
else:
    dim, heads = {"dinov2/vits14": (384, 6), "dinov2/vitb14": (768, 12)}[name]
    model = DinoViT(dim, 12, heads)
model.eval()
out = {}
layouts = ["contiguous", "channels_last"] if name.startswith("torchvision/") else ["contiguous"]
with torch.no_grad():
    for layout in layouts:
        fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
        m = model.to(memory_format=fmt)
        x = torch.randn(batch, 3, size, size).contiguous(memory_format=fmt)
        m(x)  # warm-up
        t0 = time.perf_counter()
        for _ in range(batches):
            m(x)
        out[layout] = batch * batches / (time.perf_counter() - t0)
print(json.dumps({"torch": torch.__version__, "imagesPerSecond": out}))
