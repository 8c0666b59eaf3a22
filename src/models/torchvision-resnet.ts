// torchvision's ImageNet ResNets (torchvision/models/resnet.py): 7×7 stride-2 stem, max-pool,
// BasicBlock / Bottleneck (stride on the 3×3 conv, "ResNet v1.5"), a `downsample` Sequential only
// where the shape changes, global average pool, fc → 1000. Names and parameter order are
// torchvision's, so the published files (resnet50-0676ba61.pth, …) load strictly. `forward` returns
// the pooled features (the embedding: 512 for resnet18/34, 2048 for resnet50/101); `logits` adds fc.
import * as torch from "../torch/index.js";
import type { Tensor } from "../torch/index.js";
import { Module, Conv2d, BatchNorm2d, Linear, Sequential, MaxPool2d } from "../nn/index.js";

export type TvBlockKind = "basic" | "bottleneck";

export const TORCHVISION_RESNET_LAYOUTS: Record<string, { block: TvBlockKind; layers: [number, number, number, number] }> = {
  resnet18: { block: "basic", layers: [2, 2, 2, 2] },
  resnet34: { block: "basic", layers: [3, 4, 6, 3] },
  resnet50: { block: "bottleneck", layers: [3, 4, 6, 3] },
  resnet101: { block: "bottleneck", layers: [3, 4, 23, 3] },
};

const conv3x3 = (i: number, o: number, stride = 1): Conv2d => new Conv2d(i, o, 3, { stride, padding: 1, bias: false });
const conv1x1 = (i: number, o: number, stride = 1): Conv2d => new Conv2d(i, o, 1, { stride, bias: false });

export class TvBasicBlock extends Module {
  static readonly expansion = 1;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly downsample: Sequential | null;
  constructor(inPlanes: number, planes: number, stride: number, downsample: Sequential | null) {
    super();
    this.conv1 = this.registerModule("conv1", conv3x3(inPlanes, planes, stride));
    this.bn1 = this.registerModule("bn1", new BatchNorm2d(planes));
    this.conv2 = this.registerModule("conv2", conv3x3(planes, planes));
    this.bn2 = this.registerModule("bn2", new BatchNorm2d(planes));
    this.downsample = downsample ? this.registerModule("downsample", downsample) : null;
  }
  override get typeName(): string {
    return "BasicBlock";
  }
  override forward(x: Tensor): Tensor {
    return torch.scope(() => {
      const a = this.bn1.forward(this.conv1.forward(x)).relu_();
      const out = this.bn2.forward(this.conv2.forward(a));
      out.add_(this.downsample ? this.downsample.forward(x) : x);
      return out.relu_();
    });
  }
}

export class TvBottleneck extends Module {
  static readonly expansion = 4;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly downsample: Sequential | null;
  constructor(inPlanes: number, planes: number, stride: number, downsample: Sequential | null) {
    super();
    this.conv1 = this.registerModule("conv1", conv1x1(inPlanes, planes));
    this.bn1 = this.registerModule("bn1", new BatchNorm2d(planes));
    this.conv2 = this.registerModule("conv2", conv3x3(planes, planes, stride));
    this.bn2 = this.registerModule("bn2", new BatchNorm2d(planes));
    this.conv3 = this.registerModule("conv3", conv1x1(planes, planes * 4));
    this.bn3 = this.registerModule("bn3", new BatchNorm2d(planes * 4));
    this.downsample = downsample ? this.registerModule("downsample", downsample) : null;
  }
  override get typeName(): string {
    return "Bottleneck";
  }
  override forward(x: Tensor): Tensor {
    return torch.scope(() => {
      const a = this.bn1.forward(this.conv1.forward(x)).relu_();
      const b = this.bn2.forward(this.conv2.forward(a)).relu_();
      const out = this.bn3.forward(this.conv3.forward(b));
      out.add_(this.downsample ? this.downsample.forward(x) : x);
      return out.relu_();
    });
  }
}

export class TorchvisionResNet extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly maxpool: MaxPool2d;
  readonly layer1: Sequential;
  readonly layer2: Sequential;
  readonly layer3: Sequential;
  readonly layer4: Sequential;
  readonly fc: Linear;
  /** Width of the pooled features. */
  readonly numFeatures: number;

  constructor(readonly arch: string, numClasses = 1000) {
    super();
    const layout = TORCHVISION_RESNET_LAYOUTS[arch];
    if (!layout) throw new Error(`torchvision ResNet: unknown architecture '${arch}'; known: ${Object.keys(TORCHVISION_RESNET_LAYOUTS).join(", ")}`);
    const expansion = layout.block === "basic" ? 1 : 4;
    let inPlanes = 64;
    const makeLayer = (planes: number, n: number, stride: number): Sequential => {
      const s = new Sequential();
      for (let i = 0; i < n; i++) {
        const st = i === 0 ? stride : 1;
        const ds = st !== 1 || inPlanes !== planes * expansion
          ? new Sequential(conv1x1(inPlanes, planes * expansion, st), new BatchNorm2d(planes * expansion))
          : null;
        s.append(layout.block === "basic" ? new TvBasicBlock(inPlanes, planes, st, ds) : new TvBottleneck(inPlanes, planes, st, ds));
        inPlanes = planes * expansion;
      }
      return s;
    };
    this.conv1 = this.registerModule("conv1", new Conv2d(3, 64, 7, { stride: 2, padding: 3, bias: false }));
    this.bn1 = this.registerModule("bn1", new BatchNorm2d(64));
    this.maxpool = this.registerModule("maxpool", new MaxPool2d(3, { stride: 2, padding: 1 }));
    this.layer1 = this.registerModule("layer1", makeLayer(64, layout.layers[0], 1));
    this.layer2 = this.registerModule("layer2", makeLayer(128, layout.layers[1], 2));
    this.layer3 = this.registerModule("layer3", makeLayer(256, layout.layers[2], 2));
    this.layer4 = this.registerModule("layer4", makeLayer(512, layout.layers[3], 2));
    this.numFeatures = 512 * expansion;
    this.fc = this.registerModule("fc", new Linear(this.numFeatures, numClasses));
  }

  override get typeName(): string {
    return "ResNet";
  }

  /** As ResNetEmbedding (loadCheckpoint's result): the model.name, width 1, embedding width. */
  get modelName(): string {
    return `torchvision/${this.arch}`;
  }
  get width(): number {
    return 1;
  }
  get outputDim(): number {
    return this.numFeatures;
  }

  /** Pooled features [N, numFeatures] (torchvision's forward without fc). */
  override forward(x: Tensor): Tensor {
    return torch.scope(() => {
      let out = this.maxpool.forward(this.bn1.forward(this.conv1.forward(x)).relu_());
      out = this.layer4.forward(this.layer3.forward(this.layer2.forward(this.layer1.forward(out))));
      return out.mean([2, 3]);
    });
  }

  /** torchvision's forward: fc(features), the ImageNet class logits. */
  logits(x: Tensor): Tensor {
    return torch.scope(() => this.fc.forward(this.forward(x)));
  }
}
