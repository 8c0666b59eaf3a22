// Generates samples/shapes: small images in a few visually distinct groups (filled circles,
// squares, triangles, stripes) with varied colours, sizes and positions, plus two deliberately
// corrupt files and one exact duplicate, for the README's first `winnow run`.
// Deterministic (fixed seed): `npx tsx scripts/make-samples.ts [dir] [perGroup]`.
import * as fs from "node:fs";
import * as path from "node:path";
import sharp from "sharp";

const dir = process.argv[2] ?? "samples/shapes";
const perGroup = Number(process.argv[3] ?? 40);
const S = 48;

let seed = 12345;
const rand = (): number => {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return ((seed >>> 8) & 0xffff) / 0x10000;
};

type Shape = "circle" | "square" | "triangle" | "stripes";
function draw(shape: Shape): Buffer {
  const px = Buffer.alloc(S * S * 3);
  const bg = [200 + rand() * 55, 200 + rand() * 55, 200 + rand() * 55];
  const fg = [rand() * 180, rand() * 180, rand() * 180];
  const r = 10 + rand() * 10;
  const cx = r + 2 + rand() * (S - 2 * r - 4);
  const cy = r + 2 + rand() * (S - 2 * r - 4);
  const period = 6 + Math.floor(rand() * 6);
  const angle = rand() < 0.5;
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      let on = false;
      const dx = x - cx;
      const dy = y - cy;
      if (shape === "circle") on = dx * dx + dy * dy <= r * r;
      else if (shape === "square") on = Math.abs(dx) <= r * 0.8 && Math.abs(dy) <= r * 0.8;
      else if (shape === "triangle") on = dy <= r * 0.8 && dy >= -r && Math.abs(dx) <= (dy + r) * 0.55;
      else on = Math.floor((angle ? x + y : x) / (period / 2)) % 2 === 0;
      const c = on ? fg : bg;
      const o = (y * S + x) * 3;
      for (let k = 0; k < 3; k++) px[o + k] = Math.max(0, Math.min(255, Math.round(c[k]! + (rand() - 0.5) * 16)));
    }
  }
  return px;
}

fs.mkdirSync(dir, { recursive: true });
const shapes: Shape[] = ["circle", "square", "triangle", "stripes"];
let first: string | null = null;
for (const shape of shapes) {
  for (let k = 0; k < perGroup; k++) {
    const name = `${shape}-${String(k).padStart(3, "0")}.png`;
    const png = await sharp(draw(shape), { raw: { width: S, height: S, channels: 3 } }).png({ compressionLevel: 9 }).toBuffer();
    fs.writeFileSync(path.join(dir, name), png);
    first ??= name;
  }
}
// An exact duplicate, a truncated PNG and a text file with an image extension.
fs.copyFileSync(path.join(dir, first!), path.join(dir, "zz-duplicate-of-circle-000.png"));
const good = fs.readFileSync(path.join(dir, "square-000.png"));
fs.writeFileSync(path.join(dir, "broken-truncated.png"), good.subarray(0, Math.floor(good.length / 2)));
fs.writeFileSync(path.join(dir, "broken-not-an-image.jpg"), "this is not a JPEG\n");
console.log(`${dir}: ${shapes.length * perGroup} images + 1 duplicate + 2 corrupt files`);
