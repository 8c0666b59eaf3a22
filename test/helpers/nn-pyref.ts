// PyTorch reference runs for the nn/models tests: one /usr/bin/python3 process per call (Debian's
// python3-torch 1.13; the python3 first on PATH has no torch). Tensors go both ways as raw
// little-endian files in a temp folder:
//   Python sees IN (dict name → torch tensor), JIN (JSON inputs), and calls out(name, tensor)
//   or jout(name, value); the call returns { tensors, json }.
// test/helpers/py/ is on sys.path (reference architectures live there).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import * as torch from "../../src/torch/index.js";
import type { Tensor, DType } from "../../src/torch/index.js";

export const PYTHON = "/usr/bin/python3";
export const PY_DIR = join(dirname(fileURLToPath(import.meta.url)), "py");

let available: boolean | undefined;
export function hasTorchPython(): boolean {
  if (available === undefined) available = spawnSync(PYTHON, ["-c", "import torch"]).status === 0;
  return available;
}

export interface PyTensor {
  shape: number[];
  dtype: DType;
  bytes: Uint8Array;
}

/** A Python result as an engine tensor (caller owns it). */
export function toTensor(p: PyTensor): Tensor {
  return torch.fromBytes(p.bytes, p.shape, p.dtype);
}
/** A Python result as plain numbers. */
export function values(p: PyTensor): number[] {
  const t = toTensor(p);
  try {
    return t.toArray();
  } finally {
    t.dispose();
  }
}

const PRELUDE = String.raw`
import json, os, sys
import torch
sys.path.insert(0, os.environ["NNREF_PYDIR"])
_D = os.environ["NNREF_DIR"]
_META = json.load(open(os.path.join(_D, "in.json")))
_DT = {"float32": torch.float32, "float64": torch.float64, "int64": torch.int64, "int32": torch.int32,
       "uint8": torch.uint8, "bool": torch.bool, "float16": torch.float16, "int8": torch.int8, "int16": torch.int16}
_DTN = {v: k for k, v in _DT.items()}
IN = {}
for _n, _m in _META["tensors"].items():
    _b = bytearray(open(os.path.join(_D, _n + ".bin"), "rb").read())
    _t = torch.frombuffer(_b, dtype=_DT[_m["dtype"]]) if len(_b) else torch.empty(0, dtype=_DT[_m["dtype"]])
    IN[_n] = _t.reshape(_m["shape"]).clone()
JIN = _META["json"]
_OUT = {"tensors": {}, "json": {}}
def out(name, t):
    t = t.detach().contiguous().cpu()
    open(os.path.join(_D, "out-" + name + ".bin"), "wb").write(t.numpy().tobytes() if t.numel() else b"")
    _OUT["tensors"][name] = {"dtype": _DTN[t.dtype], "shape": list(t.shape)}
def jout(name, v):
    _OUT["json"][name] = v
torch.set_num_threads(int(os.environ.get("NNREF_THREADS", "2")))
`;

const EPILOGUE = String.raw`
json.dump(_OUT, open(os.path.join(_D, "out.json"), "w"))
`;

/** Runs `code` in PyTorch with the given inputs; returns what it passed to out()/jout(). */
export function runTorch(
  code: string,
  inputs: Record<string, Tensor> = {},
  json: unknown = null,
  opts: { timeoutMs?: number; threads?: number } = {},
): { tensors: Record<string, PyTensor>; json: Record<string, unknown> } {
  const dir = mkdtempSync(join(tmpdir(), "nnref-"));
  try {
    const meta: { tensors: Record<string, { dtype: DType; shape: number[] }>; json: unknown } = { tensors: {}, json };
    for (const [n, t] of Object.entries(inputs)) {
      const arr = t.data();
      writeFileSync(join(dir, `${n}.bin`), new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength));
      meta.tensors[n] = { dtype: t.dtype, shape: t.shape };
    }
    writeFileSync(join(dir, "in.json"), JSON.stringify(meta));
    const r = spawnSync(PYTHON, ["-"], {
      input: PRELUDE + "\n" + code + "\n" + EPILOGUE,
      encoding: "utf8",
      env: { ...process.env, NNREF_DIR: dir, NNREF_PYDIR: PY_DIR, NNREF_THREADS: String(opts.threads ?? 2), PYTHONDONTWRITEBYTECODE: "1" },
      timeout: opts.timeoutMs ?? 120_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    if (r.status !== 0 || !existsSync(join(dir, "out.json"))) {
      throw new Error(`python failed (status ${r.status}, signal ${r.signal}):\n${r.stderr}\n${r.stdout.slice(-2000)}`);
    }
    const o = JSON.parse(readFileSync(join(dir, "out.json"), "utf8")) as {
      tensors: Record<string, { dtype: DType; shape: number[] }>;
      json: Record<string, unknown>;
    };
    const tensors: Record<string, PyTensor> = {};
    for (const [n, m] of Object.entries(o.tensors)) {
      tensors[n] = { ...m, bytes: new Uint8Array(readFileSync(join(dir, `out-${n}.bin`))) };
    }
    return { tensors, json: o.json };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** max |a - b| and max |a - b| / (|b| + tiny) over two equal-length arrays. */
export function maxErr(a: ArrayLike<number>, b: ArrayLike<number>): { abs: number; rel: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let abs = 0;
  let rel = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    abs = Math.max(abs, d);
    rel = Math.max(rel, d / Math.max(Math.abs(b[i]), 1e-12));
  }
  return { abs, rel };
}

/** Asserts |a - b| <= atol + rtol·|b| elementwise, reporting the worst element. */
export function assertAllClose(a: ArrayLike<number>, b: ArrayLike<number>, opts: { atol?: number; rtol?: number; what?: string } = {}): void {
  const atol = opts.atol ?? 1e-7;
  const rtol = opts.rtol ?? 1e-6;
  if (a.length !== b.length) throw new Error(`${opts.what ?? "values"}: length ${a.length} vs ${b.length}`);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    const excess = d - (atol + rtol * Math.abs(b[i]));
    if (!(excess <= 0) && (worst < 0 || excess > worstExcess || Number.isNaN(excess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    throw new Error(`${opts.what ?? "values"} differ at ${worst}: ${a[worst]} vs ${b[worst]} (atol ${atol}, rtol ${rtol})`);
  }
}
