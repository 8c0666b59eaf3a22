// Fuzzes the checkpoint readers: valid seeds (lightly fixtures + files we encode) get random
// mutations, including pickle-opcode-level edits inside data.pkl with the zip rebuilt (CRCs
// recomputed) so the unpickler itself is reached. Every outcome must be either success or a
// CheckpointError; anything else (TypeError, RangeError, out-of-memory, an INTERNAL-wrapped error)
// is a crash, and an iteration over 1 s is a hang. Exits 1 if there was any crash or hang.
//
//   npx tsx scripts/fuzz-checkpoint.ts --iterations 20000 --seed 1 [--out DIR] [--fixtures DIR]
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import {
  CheckpointError,
  encodeSafetensors,
  encodeTorchFile,
  isRawTensor,
  loadStateDictFile,
  rawTensorToContiguousBytes,
  readSafetensors,
  readTorchFile,
  type TensorToWrite,
} from "../src/checkpoint/index.js";
import { ZipReader, ZipWriter, concatChunks } from "../src/checkpoint/zip.js";
import { MemorySource } from "../src/checkpoint/source.js";

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : def;
}
const ITER = Number(arg("iterations", "20000"));
const SEED = Number(arg("seed", "1"));
const OUT = arg("out", "");
const FIXTURES = arg("fixtures", "/work/shared/fixtures/lightly");
const HANG_MS = 1000;

// mulberry32: small, seedable, good enough for fuzzing
let rs = SEED >>> 0;
function rnd(): number {
  rs = (rs + 0x6d2b79f5) >>> 0;
  let t = rs;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const ri = (n: number) => Math.floor(rnd() * n);
const pick = <T>(a: readonly T[]): T => a[ri(a.length)]!;
const INTERESTING = [0, 1, 2, 0x7f, 0x80, 0xff, 0xfe, 0x40];
const INTERESTING32 = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe, 0x10000, 0xffff, 64, 1e9];

// ---------------------------------------------------------------- seeds
type Kind = "torch" | "safetensors";
interface Seed {
  name: string;
  kind: Kind;
  bytes: Uint8Array;
}
function tensor(dtype: TensorToWrite["dtype"], shape: number[], k: number): TensorToWrite {
  const size = { float32: 4, float64: 8, float16: 2, bfloat16: 2, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1 }[dtype];
  const n = shape.reduce((a, b) => a * b, 1) * size;
  return { dtype, shape, data: Uint8Array.from({ length: n }, (_, i) => (i * 31 + k) & 0xff), requiresGrad: k % 3 === 0 };
}
function seeds(): Seed[] {
  const out: Seed[] = [];
  const shared = tensor("float32", [6], 5);
  const sd: Array<[string, TensorToWrite]> = [
    ["a.weight", tensor("float32", [3, 4], 1)],
    ["a.bias", tensor("float16", [3], 2)],
    ["b.bf", tensor("bfloat16", [2, 2, 2, 2], 3)],
    ["b.count", tensor("int64", [], 4)],
    ["c.mask", tensor("bool", [5], 6)],
    ["c.i8", tensor("int8", [2, 3], 7)],
    ["c.empty", tensor("float64", [0, 2], 8)],
    ["s.a", shared],
    ["s.b", { dtype: "float32", shape: [3, 2], data: shared.data }],
  ];
  out.push({ name: "encoded-extra", kind: "torch", bytes: encodeTorchFile(sd, { extra: { epoch: 3, big: 2 ** 40, tag: "x", flag: true, t: tensor("int32", [2], 9) } }) });
  out.push({ name: "encoded-top", kind: "torch", bytes: encodeTorchFile(sd.slice(0, 4), { stateDictKey: null }) });
  out.push({ name: "encoded-zip64", kind: "torch", bytes: encodeTorchFile(sd.slice(2, 6), { forceZip64: true }) });
  out.push({ name: "st", kind: "safetensors", bytes: encodeSafetensors(sd.slice(0, 7), { format: "pt" }) });
  out.push({ name: "st-small", kind: "safetensors", bytes: encodeSafetensors([["x", tensor("uint8", [3], 1)]]) });
  if (fs.existsSync(FIXTURES)) {
    for (const f of fs.readdirSync(FIXTURES).filter((f) => f.startsWith("resnet-9") && f.endsWith(".ckpt")).sort()) {
      out.push({ name: f, kind: "torch", bytes: new Uint8Array(fs.readFileSync(path.join(FIXTURES, f))) });
    }
  }
  // python-written seeds (Lightning-like, protocol 4, views, placeholders) when torch is around,
  // plus any files in --extra-seeds DIR
  const extraDir = arg("extra-seeds", "") || pythonSeeds();
  if (extraDir && fs.existsSync(extraDir)) {
    for (const f of fs.readdirSync(extraDir).sort()) {
      const b = new Uint8Array(fs.readFileSync(path.join(extraDir, f)));
      out.push({ name: f, kind: f.endsWith(".safetensors") ? "safetensors" : "torch", bytes: b });
    }
  }
  return out;
}

const PY_SEEDS = String.raw`
import sys, os, torch, collections, argparse
d = sys.argv[1]
x = torch.arange(24, dtype=torch.float32).reshape(4, 6)
mixed = collections.OrderedDict(t=x.t(), o=x[2:], s=torch.tensor(3.5), h=torch.randn(3).half(),
    e=torch.randn(2).expand(3, 2), p=torch.nn.Parameter(torch.ones(2)), b=torch.tensor([True]))
torch.save(mixed, os.path.join(d, "mixed.pt"))
torch.save(mixed, os.path.join(d, "proto4.pt"), pickle_protocol=4)
m = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
m(torch.randn(4, 3)).sum().backward(); opt.step()
class AttributeDict(dict): pass
ck = {"epoch": 1, "state_dict": m.state_dict(), "hyper_parameters": argparse.Namespace(lr=0.1), "hp": AttributeDict(a=1, b=[1, 2]),
      "optimizer_states": [opt.state_dict()], "s": {1, 2}, "fs": frozenset([3]), "b": b"bytes", "f": 1.5, "big": 2**100}
torch.save(ck, os.path.join(d, "lightning.ckpt"))
torch.save(ck, os.path.join(d, "lightning4.ckpt"), pickle_protocol=4)
`;
function pythonSeeds(): string {
  const py = process.env.CKPT_PYTHON ?? "/usr/bin/python3";
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ckpt-fuzz-seeds-"));
  const r = spawnSync(py, ["-c", PY_SEEDS, dir], { encoding: "utf8", timeout: 60_000 });
  if (r.status !== 0) {
    console.error(`(no python seeds: ${py} with torch unavailable)`);
    return "";
  }
  process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// ---------------------------------------------------------------- mutations
function flipBits(b: Uint8Array, lo = 0, hi = b.length): Uint8Array {
  const c = b.slice();
  const n = 1 + ri(8);
  for (let i = 0; i < n && hi > lo; i++) c[lo + ri(hi - lo)]! ^= 1 << ri(8);
  return c;
}
function setInteresting(b: Uint8Array, lo = 0, hi = b.length): Uint8Array {
  const c = b.slice();
  if (hi - lo < 4) return c;
  const at = lo + ri(hi - lo - 3);
  if (rnd() < 0.5) c[at] = pick(INTERESTING);
  else new DataView(c.buffer).setUint32(at, pick(INTERESTING32) >>> 0, true);
  return c;
}
function insertDelete(b: Uint8Array): Uint8Array {
  const at = ri(b.length + 1);
  const n = 1 + ri(16);
  if (rnd() < 0.5) {
    const ins = Uint8Array.from({ length: n }, () => (rnd() < 0.5 ? pick(INTERESTING) : ri(256)));
    const c = new Uint8Array(b.length + n);
    c.set(b.subarray(0, at));
    c.set(ins, at);
    c.set(b.subarray(at), at + n);
    return c;
  }
  return concatChunks([b.subarray(0, at), b.subarray(Math.min(b.length, at + n))]);
}
function truncate(b: Uint8Array): Uint8Array {
  return b.slice(0, rnd() < 0.5 ? ri(b.length) : b.length - 1 - ri(Math.min(b.length, 300)));
}

/** Opcode boundaries of a (valid) pickle: [start, end) of each op. */
function pickleOps(p: Uint8Array): Array<[number, number]> {
  const ops: Array<[number, number]> = [];
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  let i = 0;
  const fixed: Record<number, number> = {
    0x80: 1, 0x71: 1, 0x68: 1, 0x4b: 1, 0x4d: 2, 0x4a: 4, 0x72: 4, 0x6a: 4, 0x47: 8, 0x95: 8,
  };
  while (i < p.length) {
    const op = p[i]!;
    let n = 1;
    if (fixed[op] !== undefined) n += fixed[op]!;
    else if (op === 0x58 || op === 0x42) n += 4 + v.getUint32(i + 1, true);
    else if (op === 0x8c || op === 0x43 || op === 0x55) n += 1 + p[i + 1]!;
    else if (op === 0x8a) n += 1 + p[i + 1]!;
    else if (op === 0x63) {
      let j = i + 1;
      for (let k = 0; k < 2; k++) {
        while (j < p.length && p[j] !== 0x0a) j++;
        j++;
      }
      n = j - i;
    }
    ops.push([i, Math.min(i + n, p.length)]);
    if (op === 0x2e) break;
    i += n;
  }
  return ops;
}
const OP_TEMPLATES: number[][] = [
  [0x28], [0x29], [0x5d], [0x7d], [0x4e], [0x88], [0x89], [0x74], [0x85], [0x86], [0x87], [0x73], [0x75], [0x61], [0x65],
  [0x52], [0x81], [0x62], [0x51], [0x30], [0x31], [0x32], [0x2e], [0x8f], [0x90], [0x91], [0x93], [0x94], [0x64], [0x6c],
  [0x4b, 0xff], [0x4d, 0xff, 0xff], [0x4a, 0xff, 0xff, 0xff, 0x7f], [0x4a, 0, 0, 0, 0x80], [0x8a, 8, 0, 0, 0, 0, 0, 0, 0, 0x7f],
  [0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1], [0x8b, 0xff, 0xff, 0xff, 0x7f], [0x68, 0], [0x68, 0xff], [0x6a, 0xff, 0xff, 0xff, 0xff],
  [0x71, 0], [0x72, 0xff, 0xff, 0xff, 0xff], [0x58, 0xff, 0xff, 0xff, 0xff], [0x58, 1, 0, 0, 0, 0x41], [0x8c, 1, 0x30],
  [0x47, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0], [0x95, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], [0x43, 2, 1, 2],
  [0x63, ...new TextEncoder().encode("torch\nFloatStorage\n")], [0x63, ...new TextEncoder().encode("collections\nOrderedDict\n")],
  [0x63, ...new TextEncoder().encode("torch._utils\n_rebuild_tensor_v2\n")], [0x63, ...new TextEncoder().encode("torch._utils\n_rebuild_parameter\n")],
  [0x63, ...new TextEncoder().encode("argparse\nNamespace\n")], [0x63, ...new TextEncoder().encode("_codecs\nencode\n")], [0x84], [0x49],
];
function mutatePickle(p: Uint8Array): Uint8Array {
  const ops = pickleOps(p);
  const parts = ops.map(([a, b]) => p.subarray(a, b));
  const n = 1 + (rnd() < 0.8 ? 0 : ri(4));
  for (let k = 0; k < n; k++) {
    const i = ri(parts.length);
    const r = rnd();
    if (r < 0.2) parts.splice(i, 1);
    else if (r < 0.35) parts.splice(i, 0, parts[ri(parts.length)]!);
    else if (r < 0.5) {
      const j = ri(parts.length);
      [parts[i], parts[j]] = [parts[j]!, parts[i]!];
    } else if (r < 0.72) parts.splice(i, 0, Uint8Array.from(pick(OP_TEMPLATES)));
    else if (r < 0.75) {
      // long runs: deep nesting (TUPLE1, MARK, DUP chains) to catch recursion in consumers and messages
      parts.splice(i, 0, new Uint8Array(1000 + ri(100_000)).fill(pick([0x85, 0x28, 0x32, 0x5d, 0x4e, 0x29])));
    }
    else if (r < 0.9) {
      // change an argument: ints, memo indexes, lengths
      const op = parts[i]!.slice();
      if (op.length > 1) {
        const at = 1 + ri(op.length - 1);
        op[at] = rnd() < 0.5 ? pick(INTERESTING) : ri(256);
      }
      parts[i] = op;
    } else {
      // a run of ops copied elsewhere (e.g. a whole tensor entry duplicated)
      const a = ri(parts.length);
      const b = Math.min(parts.length, a + 1 + ri(40));
      parts.splice(ri(parts.length), 0, ...parts.slice(a, b));
    }
  }
  return concatChunks(parts);
}

/** Re-zips with one record changed by `f` (CRCs recomputed, alignment kept). */
function rezip(b: Uint8Array, f: (name: string, data: Uint8Array, all: string[]) => Uint8Array | null): Uint8Array {
  const z = new ZipReader(new MemorySource(b));
  const w = new ZipWriter();
  const names = z.entries.map((e) => e.name);
  for (const e of z.entries) {
    const d = f(e.name, z.read(e), names);
    if (d) w.add(e.name, d);
  }
  return concatChunks(w.finish());
}
function mutateRecords(b: Uint8Array): Uint8Array {
  const r = rnd();
  if (r < 0.75) return rezip(b, (n, d) => (n.endsWith("data.pkl") ? mutatePickle(d) : d));
  const z = new ZipReader(new MemorySource(b));
  const target = pick(z.entries).name;
  if (r < 0.85) {
    // storage record resized or dropped
    return rezip(b, (n, d) => (n !== target ? d : rnd() < 0.3 ? null : rnd() < 0.5 ? d.subarray(0, ri(d.length + 1)) : concatChunks([d, new Uint8Array(1 + ri(16))])));
  }
  if (r < 0.93) {
    // extra records torch 2.x may add, with random contents
    const extra = pick(["byteorder", ".data/version", "version", ".format_version", "data/999"]);
    const root = z.entries[0]!.name.split("/")[0]!;
    const content = pick(["little", "big", "3\n", "", "x".repeat(100), "\u00ff"]);
    const w = new ZipWriter();
    for (const e of z.entries) if (e.name !== `${root}/${extra}`) w.add(e.name, z.read(e));
    w.add(`${root}/${extra}`, new TextEncoder().encode(content));
    return concatChunks(w.finish());
  }
  // rename an entry
  return renameEntry(b, target);
}
function renameEntry(b: Uint8Array, target: string): Uint8Array {
  const z = new ZipReader(new MemorySource(b));
  const w = new ZipWriter();
  for (const e of z.entries) w.add(e.name === target ? pick([target + "x", "other/" + target, target.replace(/\/.*$/, "/data.pkl")]) : e.name, z.read(e));
  return concatChunks(w.finish());
}

function mutateSafetensors(b: Uint8Array): Uint8Array {
  const n = Number(new DataView(b.buffer, b.byteOffset).getBigUint64(0, true));
  let text = new TextDecoder().decode(b.subarray(8, 8 + n));
  const data = b.subarray(8 + n);
  const r = rnd();
  if (r < 0.4) {
    // numbers in the header replaced by interesting ones
    const nums = [...text.matchAll(/-?\d+/g)];
    if (nums.length) {
      const m = pick(nums);
      text = text.slice(0, m.index) + String(pick([0, 1, -1, 2 ** 31, 2 ** 53, 1e20, 3.5, Number(m[0]) + 1, Number(m[0]) - 1])) + text.slice(m.index! + m[0].length);
    }
  } else if (r < 0.55) text = text.replace(pick(["F32", "F16", "BF16", "I64", "BOOL", "U8"]), pick(["F32", "F64", "C64", "U16", "", "F8_E4M3"]));
  else if (r < 0.7) {
    const at = ri(text.length);
    text = text.slice(0, at) + text.slice(at + 1 + ri(5));
  } else if (r < 0.8) {
    const at = ri(text.length);
    text = text.slice(0, at) + pick(["{", "}", "[", "]", ",", '"', ":", "null", "\\u0000", "__metadata__", "__proto__"]) + text.slice(at);
  } else if (r < 0.83) {
    // a value replaced by deeply nested arrays/objects
    const vals = [...text.matchAll(/"(dtype|shape|data_offsets)":/g)];
    if (vals.length) {
      const m = pick(vals);
      const d = 1000 + ri(100_000);
      const deep = rnd() < 0.5 ? "[".repeat(d) + "]".repeat(d) : '{"a":'.repeat(d) + "1" + "}".repeat(d);
      text = text.slice(0, m.index! + m[0].length) + deep + "," + '"zz' + ri(1000) + '":' + text.slice(m.index! + m[0].length);
    }
  } else {
    return flipBits(b, 0, Math.min(b.length, 8 + n));
  }
  const h = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

function mutate(s: Seed): { bytes: Uint8Array; how: string } {
  const b = s.bytes;
  const r = rnd();
  if (s.kind === "safetensors") {
    if (r < 0.6) return { bytes: mutateSafetensors(b), how: "st-header" };
    if (r < 0.75) return { bytes: flipBits(b), how: "flip" };
    if (r < 0.9) return { bytes: insertDelete(b), how: "insdel" };
    return { bytes: truncate(b), how: "truncate" };
  }
  if (r < 0.5) return { bytes: mutateRecords(b), how: "records" };
  // structural regions: the central directory / end records and local headers
  const cdStart = Math.max(0, b.length - 200 - 60 * 50);
  if (r < 0.62) return { bytes: flipBits(b, cdStart, b.length), how: "flip-cd" };
  if (r < 0.7) return { bytes: setInteresting(b, cdStart, b.length), how: "interesting-cd" };
  if (r < 0.78) return { bytes: flipBits(b, 0, Math.min(b.length, 200)), how: "flip-head" };
  if (r < 0.86) return { bytes: flipBits(b), how: "flip" };
  if (r < 0.94) return { bytes: insertDelete(b), how: "insdel" };
  return { bytes: truncate(b), how: "truncate" };
}

// ---------------------------------------------------------------- run
function exercise(kind: Kind, b: Uint8Array): string {
  const results: string[] = [];
  const touch = (m: Map<string, unknown>) => {
    for (const v of m.values()) {
      if (isRawTensor(v)) {
        try {
          rawTensorToContiguousBytes(v);
        } catch (e) {
          if (!(e instanceof CheckpointError) || e.code === "INTERNAL") throw e;
        }
      }
    }
  };
  const attempt = (fn: () => void) => {
    try {
      fn();
      results.push("ok");
    } catch (e) {
      if (e instanceof CheckpointError && e.code !== "INTERNAL") results.push(e.code);
      else throw e;
    }
  };
  if (kind === "safetensors") {
    attempt(() => touch(readSafetensors(b).tensors));
    attempt(() => void readTorchFile(b));
  } else {
    attempt(() => void readTorchFile(b));
    attempt(() => void readTorchFile(b, { lenient: true }));
    attempt(() => touch(loadStateDictFile(b)));
    attempt(() => touch(readSafetensors(b).tensors));
  }
  return results.slice(0, kind === "safetensors" ? 1 : 3).join("/");
}

const all = seeds();
for (const s of all) {
  const r = exercise(s.kind, s.bytes);
  if (!r.split("/").includes("ok")) throw new Error(`seed ${s.name} does not read cleanly: ${r}`);
}
const outcomes = new Map<string, number>();
let ok = 0;
let errors = 0;
let crashes = 0;
let hangs = 0;
let maxMs = 0;
const crashSamples: string[] = [];
const t0 = Date.now();
for (let it = 0; it < ITER; it++) {
  const s = all[it % all.length]!;
  const { bytes, how } = mutate(s);
  const start = performance.now();
  let outcome: string;
  try {
    outcome = exercise(s.kind, bytes);
    if (outcome.split("/").includes("ok")) ok++;
    else errors++;
  } catch (e) {
    crashes++;
    outcome = "CRASH";
    const msg = e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e);
    if (crashSamples.length < 20) crashSamples.push(`iteration ${it} (seed ${s.name}, ${how}): ${msg.slice(0, 1500)}`);
    if (OUT) {
      fs.mkdirSync(OUT, { recursive: true });
      fs.writeFileSync(path.join(OUT, `crash-${it}.bin`), bytes);
    }
  }
  const ms = performance.now() - start;
  maxMs = Math.max(maxMs, ms);
  if (ms > HANG_MS) {
    hangs++;
    if (crashSamples.length < 20) crashSamples.push(`iteration ${it} (seed ${s.name}, ${how}): took ${ms.toFixed(0)} ms`);
  }
  const key = `${how}: ${outcome.split("/").includes("ok") ? "ok" : outcome.split("/")[0]}`;
  outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
  if ((it + 1) % 5000 === 0) console.error(`  ${it + 1}/${ITER} … crashes ${crashes}, hangs ${hangs}`);
}
const secs = (Date.now() - t0) / 1000;
console.log(`fuzz-checkpoint: ${ITER} iterations, seed ${SEED}, ${all.length} seeds, ${secs.toFixed(1)} s, slowest iteration ${maxMs.toFixed(1)} ms`);
console.log(`  ok (some reader succeeded):  ${ok}`);
console.log(`  CheckpointError (all):       ${errors}`);
console.log(`  crashes (other exceptions):  ${crashes}`);
console.log(`  hangs (> ${HANG_MS} ms):            ${hangs}`);
console.log("  by mutation (ok, or the first reader's error code):");
for (const [k, v] of [...outcomes.entries()].sort()) console.log(`    ${k.padEnd(34)} ${v}`);
for (const c of crashSamples) console.log(`\n${c}`);
process.exit(crashes > 0 || hangs > 0 ? 1 : 0);
