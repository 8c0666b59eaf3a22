// Small synthetic image folders for the training/embedding tests: a few distinct patterns (easy for
// SimCLR to tell apart), each image with its own colours, phase and noise so no two files are equal.
import * as fs from "node:fs";
import * as path from "node:path";
import sharp from "sharp";
import { randomBytes } from "./data-images.js";

export const PATTERNS = ["hstripes", "vstripes", "checker", "rings"] as const;
export type Pattern = (typeof PATTERNS)[number];

/** w×h RGB (HWC) of `pattern`, varied by `k`. */
export function patternPixels(pattern: Pattern, k: number, w: number, h: number): Buffer {
  const out = Buffer.alloc(w * h * 3);
  const noise = randomBytes(w * h * 3, 1000 + k * 7 + PATTERNS.indexOf(pattern) * 131);
  const period = 6 + (k % 3) * 2;
  const phase = k % period;
  const fg = [(k * 53 + 40) % 200 + 55, (k * 97 + 90) % 200 + 55, (k * 31 + 10) % 200 + 55];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let on: boolean;
      switch (pattern) {
        case "hstripes": on = Math.floor((y + phase) / (period / 2)) % 2 === 0; break;
        case "vstripes": on = Math.floor((x + phase) / (period / 2)) % 2 === 0; break;
        case "checker": on = (Math.floor((x + phase) / (period / 2)) + Math.floor((y + phase) / (period / 2))) % 2 === 0; break;
        case "rings": on = Math.floor(Math.hypot(x - w / 2, y - h / 2) / (period / 2)) % 2 === 0; break;
      }
      const o = (y * w + x) * 3;
      for (let c = 0; c < 3; c++) {
        const base = on ? fg[c]! : 255 - fg[c]!;
        out[o + c] = Math.max(0, Math.min(255, base + ((noise[o + c]! % 21) - 10)));
      }
    }
  }
  return out;
}

/** Writes n PNGs (patterns in turn) into root as "<pattern>-NN.png"; returns the sorted names. */
export async function writePatternFolder(root: string, n: number, size = 40, patterns: readonly Pattern[] = PATTERNS): Promise<string[]> {
  fs.mkdirSync(root, { recursive: true });
  const names: string[] = [];
  for (let k = 0; k < n; k++) {
    const p = patterns[k % patterns.length]!;
    const w = size + (k % 5);
    const h = size - (k % 3);
    const name = `${p}-${String(k).padStart(2, "0")}.png`;
    const png = await sharp(patternPixels(p, k, w, h), { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
    fs.writeFileSync(path.join(root, name), png);
    names.push(name);
  }
  return names.sort();
}
