# A plain-PyTorch model with the architecture and state-dict key names of lightly's documented
# SimCLR model (ResNetGenerator backbone, CIFAR stem, input BatchNorm2d(3), 1x1 conv to num_ftrs,
# global pool, SimCLRProjectionHead). Written for the Winnow tests and benchmark: lightly and
# torchvision are not needed.
import torch
from torch import nn
import torch.nn.functional as F


class Basic(nn.Module):
    expansion = 1

    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        cout = planes * self.expansion
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        else:
            self.shortcut = nn.Sequential()

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class Bottle(nn.Module):
    expansion = 4

    def __init__(self, cin, planes, stride):
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        else:
            self.shortcut = nn.Sequential()

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + self.shortcut(x))


DEPTHS = {
    "resnet-9": (Basic, [1, 1, 1, 1]),
    "resnet-18": (Basic, [2, 2, 2, 2]),
    "resnet-34": (Basic, [3, 4, 6, 3]),
    "resnet-50": (Bottle, [3, 4, 6, 3]),
    "resnet-101": (Bottle, [3, 4, 23, 3]),
    "resnet-152": (Bottle, [3, 8, 36, 3]),
}


def backbone(name, width, num_ftrs, library=False):
    """The docs/worker backbone; library=True: lightly's library (benchmark) backbone,
    Sequential(*ResNetGenerator(...).children()[:-1], AdaptiveAvgPool2d(1)): no input BN, no 1x1 conv."""
    block, depths = DEPTHS[name]
    base = int(64 * width)
    mods = [] if library else [nn.BatchNorm2d(3)]
    mods += [nn.Conv2d(3, base, 3, 1, 1, bias=False), nn.BatchNorm2d(base)]
    cin = base
    for i, n in enumerate(depths):
        planes = base * 2 ** i
        blocks = []
        for j in range(n):
            blocks.append(block(cin, planes, (1 if i == 0 else 2) if j == 0 else 1))
            cin = planes * block.expansion
        mods.append(nn.Sequential(*blocks))
    # lightly's ResNet also builds its classifier (dropped from the backbone); building it here keeps
    # the random draws, and so the initial weights for a given seed, the same as lightly's and Winnow's.
    nn.Linear(cin, 10)
    if not library:
        mods.append(nn.Conv2d(cin, num_ftrs, 1))
    mods.append(nn.AdaptiveAvgPool2d(1))
    return nn.Sequential(*mods)


def feature_dim(name, width):
    block, _ = DEPTHS[name]
    return int(64 * width) * 8 * block.expansion


class Head(nn.Module):
    def __init__(self, num_ftrs, out_dim, batch_norm):
        super().__init__()
        if batch_norm:
            self.layers = nn.Sequential(
                nn.Linear(num_ftrs, num_ftrs, bias=False), nn.BatchNorm1d(num_ftrs), nn.ReLU(),
                nn.Linear(num_ftrs, out_dim, bias=False), nn.BatchNorm1d(out_dim))
        else:
            self.layers = nn.Sequential(nn.Linear(num_ftrs, num_ftrs), nn.ReLU(), nn.Linear(num_ftrs, out_dim))

    def forward(self, x):
        return self.layers(x)


class SimCLRModel(nn.Module):
    def __init__(self, name="resnet-18", width=1.0, num_ftrs=32, out_dim=128, batch_norm=True, library=False):
        super().__init__()
        if library:
            num_ftrs = feature_dim(name, width)
        self.backbone = backbone(name, width, num_ftrs, library)
        self.projection_head = Head(num_ftrs, out_dim, batch_norm)

    def embed(self, x):
        return self.backbone(x).flatten(1)

    def forward(self, x):
        return self.projection_head(self.embed(x))


def load_checkpoint(model, path):
    # As the docs' load_checkpoint: the file holds {"state_dict": ...} with "model."-prefixed keys.
    ckpt = torch.load(path, weights_only=True)
    sd = {k[len("model."):] if k.startswith("model.") else k: v for k, v in ckpt["state_dict"].items()}
    model.load_state_dict(sd, strict=True)
    return ckpt


def nt_xent(out0, out1, temperature=0.5):
    # lightly's NTXentLoss (no memory bank, one process).
    n = out0.shape[0]
    out0 = F.normalize(out0, dim=1)
    out1 = F.normalize(out1, dim=1)
    diag = torch.eye(n, dtype=torch.bool)
    l00 = torch.einsum("nc,mc->nm", out0, out0) / temperature
    l01 = torch.einsum("nc,mc->nm", out0, out1) / temperature
    l10 = torch.einsum("nc,mc->nm", out1, out0) / temperature
    l11 = torch.einsum("nc,mc->nm", out1, out1) / temperature
    l00 = l00[~diag].view(n, -1)
    l11 = l11[~diag].view(n, -1)
    logits = torch.cat([torch.cat([l01, l00], 1), torch.cat([l10, l11], 1)], 0)
    labels = torch.arange(n).repeat(2)
    return F.cross_entropy(logits, labels)
