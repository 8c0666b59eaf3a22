// Registers the built-in backbones (lightly's ResNets) and models (SimCLR).
import { RESNET_LAYOUTS, resnetGenerator } from "./resnet.js";
import { registerBackbone, registerModel, type ShapeMap } from "./registry.js";
import { SimCLR } from "./simclr.js";
import { PRETRAINED_BACKBONES, buildPretrainedBackbone, isPretrainedBackbone, matchesPretrained } from "./pretrained.js";

function resnetFeatures(name: string) {
  return ({ width }: { width: number }) => {
    const r = resnetGenerator(name, width);
    const layers = r.children().slice(0, -1); // drop the classifier, as Sequential(*children()[:-1])
    const outChannels = r.linear.inFeatures;
    r.linear.dispose();
    return { layers, outChannels };
  };
}

/** Recognizes a ResNet laid out as [input BN, conv1, bn1, layer1..4] by its blocks per stage. */
function resnetInfer(name: string) {
  const layout = RESNET_LAYOUTS[name]!;
  return (shapes: ShapeMap): number | null => {
    const stem = shapes.get("1.weight");
    if (!stem || stem.length !== 4 || stem[1] !== 3) return null;
    const bottleneck = shapes.has("3.0.conv3.weight");
    if (bottleneck !== (layout.block === "bottleneck")) return null;
    for (let s = 0; s < 4; s++) {
      let n = 0;
      while (shapes.has(`${3 + s}.${n}.conv1.weight`)) n++;
      if (n !== layout.layers[s]) return null;
    }
    return stem[0] / 64;
  };
}

for (const name of Object.keys(RESNET_LAYOUTS)) registerBackbone(name, resnetFeatures(name), resnetInfer(name));

// Pretrained backbones (torchvision/…, dinov2/…): the module is the whole publisher's network
// (keys backbone.<publisher keys>), its embedding width is fixed and width does not apply.
for (const [name, b] of Object.entries(PRETRAINED_BACKBONES)) {
  const build = (): never => {
    throw new Error(`${name} is a pretrained backbone with the publisher's own layout: build it with buildModel({ name: "${name}" })`);
  };
  registerBackbone(name, build, (shapes) => (matchesPretrained(name, shapes) ? 1 : null), b.numFeatures);
}

registerModel("simclr", (cfg) => {
  if (!isPretrainedBackbone(cfg.name)) return new SimCLR(cfg);
  const backbone = buildPretrainedBackbone(cfg.name);
  return new SimCLR({ ...cfg, width: 1, numFtrs: backbone.numFeatures }, backbone);
});
