// Lightly's ResNetGenerator architectures (lightly/models/resnet.py): CIFAR-style 3x3 stride-1
// stem, no max-pool, float width multiplying 64 channels (int()), BasicBlock / Bottleneck with
// child names conv1, bn1, conv2, bn2, [conv3, bn3,] shortcut (an empty Sequential when identity).
import * as torch from "../torch/index.js";
import { F, Tensor } from "../torch/index.js";
import { Module, Conv2d, BatchNorm2d, Linear, Sequential } from "../nn/index.js";

export interface ResidualBlock extends Module {
  readonly outChannels: number;
}

export class BasicBlock extends Module implements ResidualBlock {
  static readonly expansion = 1;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly shortcut: Sequential;
  readonly outChannels: number;

  constructor(inPlanes: number, planes: number, stride = 1) {
    super();
    this.conv1 = this.registerModule("conv1", new Conv2d(inPlanes, planes, 3, { stride, padding: 1, bias: false }));
    this.bn1 = this.registerModule("bn1", new BatchNorm2d(planes));
    this.conv2 = this.registerModule("conv2", new Conv2d(planes, planes, 3, { stride: 1, padding: 1, bias: false }));
    this.bn2 = this.registerModule("bn2", new BatchNorm2d(planes));
    this.outChannels = BasicBlock.expansion * planes;
    this.shortcut = this.registerModule("shortcut", makeShortcut(inPlanes, this.outChannels, stride));
  }

  override forward(x: Tensor): Tensor {
    return torch.scope(() => {
      const a = this.bn1.forward(this.conv1.forward(x)).relu_();
      const out = this.bn2.forward(this.conv2.forward(a));
      out.add_(this.shortcut.forward(x));
      return out.relu_();
    });
  }
}

export class Bottleneck extends Module implements ResidualBlock {
  static readonly expansion = 4;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly shortcut: Sequential;
  readonly outChannels: number;

  constructor(inPlanes: number, planes: number, stride = 1) {
    super();
    this.outChannels = Bottleneck.expansion * planes;
    this.conv1 = this.registerModule("conv1", new Conv2d(inPlanes, planes, 1, { bias: false }));
    this.bn1 = this.registerModule("bn1", new BatchNorm2d(planes));
    this.conv2 = this.registerModule("conv2", new Conv2d(planes, planes, 3, { stride, padding: 1, bias: false }));
    this.bn2 = this.registerModule("bn2", new BatchNorm2d(planes));
    this.conv3 = this.registerModule("conv3", new Conv2d(planes, this.outChannels, 1, { bias: false }));
    this.bn3 = this.registerModule("bn3", new BatchNorm2d(this.outChannels));
    this.shortcut = this.registerModule("shortcut", makeShortcut(inPlanes, this.outChannels, stride));
  }

  override forward(x: Tensor): Tensor {
    return torch.scope(() => {
      const a = this.bn1.forward(this.conv1.forward(x)).relu_();
      const b = this.bn2.forward(this.conv2.forward(a)).relu_();
      const out = this.bn3.forward(this.conv3.forward(b));
      out.add_(this.shortcut.forward(x));
      return out.relu_();
    });
  }
}

function makeShortcut(inPlanes: number, outPlanes: number, stride: number): Sequential {
  if (stride === 1 && inPlanes === outPlanes) return new Sequential();
  return new Sequential(new Conv2d(inPlanes, outPlanes, 1, { stride, bias: false }), new BatchNorm2d(outPlanes));
}

export type BlockKind = "basic" | "bottleneck";

/** Depths of lightly's ResNetGenerator. */
export const RESNET_LAYOUTS: Record<string, { block: BlockKind; layers: [number, number, number, number] }> = {
  "resnet-9": { block: "basic", layers: [1, 1, 1, 1] },
  "resnet-18": { block: "basic", layers: [2, 2, 2, 2] },
  "resnet-34": { block: "basic", layers: [3, 4, 6, 3] },
  "resnet-50": { block: "bottleneck", layers: [3, 4, 6, 3] },
  "resnet-101": { block: "bottleneck", layers: [3, 4, 23, 3] },
  "resnet-152": { block: "bottleneck", layers: [3, 8, 36, 3] },
};

/** lightly's ResNet: conv1, bn1, layer1..layer4, linear (children in that order). */
export class ResNet extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly layer1: Sequential;
  readonly layer2: Sequential;
  readonly layer3: Sequential;
  readonly layer4: Sequential;
  readonly linear: Linear;
  readonly base: number;

  constructor(block: BlockKind, layers: number[], numClasses = 10, width = 1.0) {
    super();
    if (layers.length !== 4) throw new Error("ResNet: layers must list 4 stage depths");
    if (!(width > 0)) throw new Error(`ResNet: width must be > 0, got ${width}`);
    this.base = Math.trunc(64 * width);
    if (this.base < 1) throw new Error(`ResNet: width ${width} gives ${this.base} stem channels (int(64 * width) must be >= 1)`);
    const expansion = block === "basic" ? BasicBlock.expansion : Bottleneck.expansion;
    let inPlanes = this.base;
    const makeLayer = (planes: number, n: number, stride: number): Sequential => {
      const s = new Sequential();
      for (const st of [stride, ...Array(n - 1).fill(1)]) {
        s.append(block === "basic" ? new BasicBlock(inPlanes, planes, st) : new Bottleneck(inPlanes, planes, st));
        inPlanes = planes * expansion;
      }
      return s;
    };
    this.conv1 = this.registerModule("conv1", new Conv2d(3, this.base, 3, { stride: 1, padding: 1, bias: false }));
    this.bn1 = this.registerModule("bn1", new BatchNorm2d(this.base));
    this.layer1 = this.registerModule("layer1", makeLayer(this.base, layers[0], 1));
    this.layer2 = this.registerModule("layer2", makeLayer(this.base * 2, layers[1], 2));
    this.layer3 = this.registerModule("layer3", makeLayer(this.base * 4, layers[2], 2));
    this.layer4 = this.registerModule("layer4", makeLayer(this.base * 8, layers[3], 2));
    this.linear = this.registerModule("linear", new Linear(this.base * 8 * expansion, numClasses));
  }

  /** lightly's classifier forward (ReLU after the stem is functional, avg_pool2d(4), linear). */
  override forward(x: Tensor): Tensor {
    return torch.scope(() => {
      let out = this.bn1.forward(this.conv1.forward(x)).relu_();
      out = this.layer1.forward(out);
      out = this.layer2.forward(out);
      out = this.layer3.forward(out);
      out = this.layer4.forward(out);
      out = F.avgPool2d(out, 4);
      return this.linear.forward(out.view(out.shape[0], -1));
    });
  }
}

/** lightly's ResNetGenerator(name, width, num_classes). */
export function resnetGenerator(name = "resnet-18", width = 1, numClasses = 10): ResNet {
  const layout = RESNET_LAYOUTS[name];
  if (!layout) {
    throw new Error(`Illegal name: {${name}}. Try ${Object.keys(RESNET_LAYOUTS).join(", ")}.`);
  }
  return new ResNet(layout.block, layout.layers, numClasses, width);
}
