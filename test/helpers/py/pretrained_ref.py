# PyTorch references for the pretrained backbones (test/models-pretrained.test.ts).
# torchvision ResNets: torchvision's own resnet18/50(weights=None). DINOv2: a plain-PyTorch ViT
# written from the published architecture (facebookresearch/dinov2, DinoVisionTransformer as the
# hub backbones build it: patch 14, img_size 518, LayerScale, block_chunks=0, no registers).
# Writes <name>.pth (the state_dict, publisher key layout), <name>.in.f32, <name>.out.f32 (+ shapes
# in meta.json) into the folder given as argv[1]. Random weights; BN running stats randomised.
import json, math, sys
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision



class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(B, N, C))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class LayerScale(nn.Module):
    def __init__(self, dim, init):
        super().__init__()
        self.gamma = nn.Parameter(init * torch.ones(dim))

    def forward(self, x):
        return x * self.gamma


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.ls1 = LayerScale(dim, 1.0)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, dim * 4)
        self.ls2 = LayerScale(dim, 1.0)

    def forward(self, x):
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    def __init__(self, p, dim):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, p, p)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class DinoViT(nn.Module):
    def __init__(self, dim, depth, heads, patch=14, img=518):
        super().__init__()
        self.patch = patch
        n = (img // patch) ** 2
        self.patch_embed = PatchEmbed(patch, dim)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, n + 1, dim) * 0.5)
        self.blocks = nn.ModuleList([Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Identity()
        self.mask_token = nn.Parameter(torch.zeros(1, dim))

    def interpolate_pos_encoding(self, x, w, h):
        npatch = x.shape[1] - 1
        N = self.pos_embed.shape[1] - 1
        if npatch == N and w == h:
            return self.pos_embed
        cls, patch = self.pos_embed[:, 0], self.pos_embed[:, 1:]
        dim = x.shape[-1]
        w0, h0 = w // self.patch + 0.1, h // self.patch + 0.1
        M = int(math.sqrt(N))
        patch = F.interpolate(patch.reshape(1, M, M, dim).permute(0, 3, 1, 2),
                              scale_factor=(w0 / M, h0 / M), mode="bicubic")
        assert int(w0) == patch.shape[-2] and int(h0) == patch.shape[-1]
        patch = patch.permute(0, 2, 3, 1).view(1, -1, dim)
        return torch.cat((cls.unsqueeze(0), patch), dim=1)

    def forward(self, x):
        B, nc, w, h = x.shape
        t = self.patch_embed(x)
        t = torch.cat((self.cls_token.expand(t.shape[0], -1, -1), t), dim=1)
        t = t + self.interpolate_pos_encoding(t, w, h)
        for b in self.blocks:
            t = b(t)
        return self.head(self.norm(t)[:, 0])


def official_dinov2_keys(depth):
    # The state_dict keys of dinov2_vit{s,b}14_pretrain.pth as DinoVisionTransformer defines them.
    keys = ["cls_token", "pos_embed", "mask_token", "patch_embed.proj.weight", "patch_embed.proj.bias"]
    for i in range(depth):
        for k in ["norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias",
                  "ls1.gamma", "norm2.weight", "norm2.bias", "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight",
                  "mlp.fc2.bias", "ls2.gamma"]:
            keys.append(f"blocks.{i}.{k}")
    return keys + ["norm.weight", "norm.bias"]


def randomise(model):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("gamma") or (p.dim() == 1 and "norm" in name):
                p.copy_(1 + 0.3 * torch.randn_like(p))
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
    return model.eval()


def main(out_dir, which):
    torch.set_num_threads(2)
    torch.manual_seed(0)
    meta = {}

    def save(name, model, x, y, extra=None):
        torch.save(model.state_dict(), f"{out_dir}/{name}.pth")
        x.contiguous().numpy().tofile(f"{out_dir}/{name}.in.f32")
        y.contiguous().numpy().tofile(f"{out_dir}/{name}.out.f32")
        meta[name] = {"in": list(x.shape), "out": list(y.shape), **(extra or {})}


    with torch.no_grad():
        for arch in ["resnet18", "resnet50"]:
            if arch not in which:
                continue
            m = randomise(getattr(torchvision.models, arch)(weights=None))
            x = torch.randn(2, 3, 64, 64)
            feats = torch.flatten(m.avgpool(m.layer4(m.layer3(m.layer2(m.layer1(m.maxpool(m.relu(m.bn1(m.conv1(x))))))))), 1)
            save(arch, m, x, feats, {"logits": m(x)[:, :5].reshape(-1).tolist()})
        for arch, dim, heads in [("vits14", 384, 6), ("vitb14", 768, 12)]:
            if arch not in which:
                continue
            m = randomise(DinoViT(dim, 12, heads))
            keys = list(m.state_dict().keys())
            assert sorted(keys) == sorted(official_dinov2_keys(12)), set(keys) ^ set(official_dinov2_keys(12))
            x = torch.randn(2, 3, 56, 70)  # 4×5 patches: the positional grid is interpolated, height ≠ width
            save(arch, m, x, m(x), {"square": m(x[:, :, :, :56]).reshape(-1).tolist()})

    # Key/shape lists only (no forward): the bigger architectures.
    shapes = {}
    for arch in ["resnet34", "resnet101"]:
        if arch + ":shapes" in which:
            shapes[arch] = {k: list(v.shape) for k, v in getattr(torchvision.models, arch)(weights=None).state_dict().items()}
    if "vitb14:shapes" in which:
        sd = DinoViT(768, 12, 12).state_dict()
        assert sorted(sd.keys()) == sorted(official_dinov2_keys(12))
        shapes["vitb14"] = {k: list(v.shape) for k, v in sd.items()}
    meta["shapes"] = shapes
    json.dump(meta, open(f"{out_dir}/meta.json", "w"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2].split(","))
