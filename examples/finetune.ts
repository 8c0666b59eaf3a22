// Load a Lightly/Winnow checkpoint as an embedding model, embed a batch, put a linear classifier
// on top and fine-tune both a few steps.
// Run: npx tsx examples/finetune.ts CHECKPOINT [MODEL_NAME] [WIDTH]
import { torch, nn, loadCheckpoint } from "../src/index.js";

const [checkpoint, modelName = "resnet-18", width = "1"] = process.argv.slice(2);
if (!checkpoint) throw new Error("usage: examples/finetune.ts CHECKPOINT [MODEL_NAME] [WIDTH]");
torch.manualSeed(0);

// 1. The backbone without the 1×1 projection conv and the projection head (eval mode).
const backbone = loadCheckpoint(checkpoint, { modelName, width: Number(width) });
console.log(`features: ${backbone.outputDim} (${modelName}, width ${width})`);

// 2. Embed a batch of images: float32 [N, 3, H, W], normalized as for training.
const images = torch.randn([8, 3, 32, 32]);
const embeddings = torch.noGrad(() => backbone.forward(images));
console.log(`embeddings: [${embeddings.shape.join(", ")}]`);
embeddings.dispose();

// 3. A linear classifier on top; fine-tune backbone and classifier together.
const numClasses = 4;
const model = new nn.Sequential(backbone, new nn.Linear(backbone.outputDim, numClasses));
const labels = torch.tensor(new BigInt64Array([0n, 1n, 2n, 3n, 0n, 1n, 2n, 3n]));
const optimizer = new nn.SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
model.train();
const losses: number[] = [];
for (let step = 0; step < 5; step++) {
  const loss = torch.scope(() => {
    optimizer.zeroGrad();
    const l = torch.F.crossEntropy(model.forward(images), labels);
    l.backward();
    optimizer.step();
    return l.item();
  });
  losses.push(loss);
  console.log(`step ${step}: loss ${loss.toFixed(4)}`);
}

// 4. Free native memory: the model owns its weights, the optimizer its momentum buffers.
optimizer.dispose();
model.dispose();
images.dispose();
labels.dispose();
console.log(JSON.stringify({ losses, liveTensors: torch.liveTensors() }));
