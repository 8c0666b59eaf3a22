// The PyTorch oracle: runs Python snippets with the real PyTorch and brings their results back,
// so tests can compare Winnow against it on identical inputs.
//
// Exchange format (fast and exact): a temporary folder of raw little-endian files, one per tensor,
// named by dtype (.f32, .f64, .i64, ...), plus in.json / out.json listing names, files, dtypes and
// shapes. One Python process runs every snippet registered on an Oracle (one `run()` per test
// file), each snippet in its own function so that one failing snippet only fails its own case.
//
// Always /usr/bin/python3 (Debian's python3-torch); the `python3` first on PATH has no torch.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import * as torch from "../../src/torch/index.js";
import type { Tensor, DType } from "../../src/torch/index.js";

export const PYTHON = "/usr/bin/python3";
const run = promisify(execFile);

const EXT: Record<DType, string> = {
  float32: "f32", float64: "f64", float16: "f16", bfloat16: "bf16",
  int64: "i64", int32: "i32", int16: "i16", int8: "i8", uint8: "u8", bool: "bool",
};

/** A tensor that came back from Python: its raw bytes, dtype and shape. */
export class OracleTensor {
  constructor(readonly shape: number[], readonly dtype: DType, readonly bytes: Uint8Array) {}

  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** The values as JavaScript numbers (float16/bfloat16 decoded exactly, int64 through Number). */
  values(): number[] {
    const buf = this.bytes.buffer.slice(this.bytes.byteOffset, this.bytes.byteOffset + this.bytes.byteLength);
    switch (this.dtype) {
      case "float32": return Array.from(new Float32Array(buf));
      case "float64": return Array.from(new Float64Array(buf));
      case "int64": return Array.from(new BigInt64Array(buf), (v) => Number(v));
      case "int32": return Array.from(new Int32Array(buf));
      case "int16": return Array.from(new Int16Array(buf));
      case "int8": return Array.from(new Int8Array(buf));
      case "uint8": case "bool": return Array.from(new Uint8Array(buf));
      case "float16": return Array.from(new Uint16Array(buf), halfToNumber);
      case "bfloat16": return Array.from(new Uint16Array(buf), (b) => new Float32Array(new Uint32Array([b << 16]).buffer)[0]);
    }
  }

  /** A Winnow tensor with the same values (the caller owns it, or the enclosing scope does). */
  toTensor(): Tensor {
    return torch.fromBytes(this.bytes, this.shape, this.dtype);
  }
}

function halfToNumber(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

export type OracleValue = OracleTensor | number | boolean | string | null | OracleValue[];

/** The outputs of one snippet, by the names it assigned in `O`. */
export class CaseResult {
  constructor(readonly name: string, private readonly out: Record<string, OracleValue>, readonly error: string | null) {}

  has(key: string): boolean {
    return key in this.out;
  }
  keys(): string[] {
    return Object.keys(this.out);
  }
  get(key: string): OracleValue {
    if (this.error) throw new Error(`PyTorch snippet '${this.name}' failed:\n${this.error}`);
    if (!(key in this.out)) throw new Error(`PyTorch snippet '${this.name}' produced no output '${key}' (has: ${this.keys().join(", ")})`);
    return this.out[key];
  }
  tensor(key: string): OracleTensor {
    const v = this.get(key);
    if (!(v instanceof OracleTensor)) throw new Error(`'${this.name}'.${key} is not a tensor: ${JSON.stringify(v)}`);
    return v;
  }
  num(key: string): number {
    const v = this.get(key);
    if (typeof v !== "number") throw new Error(`'${this.name}'.${key} is not a number: ${JSON.stringify(v)}`);
    return v;
  }
}

interface InputSpec {
  file: string;
  dtype: DType;
  shape: number[];
}

/** Renders a JavaScript value as a Python literal (for parameters spliced into snippets). */
export function py(v: unknown): string {
  if (v === null || v === undefined) return "None";
  if (typeof v === "boolean") return v ? "True" : "False";
  if (typeof v === "number") {
    if (Number.isNaN(v)) return "float('nan')";
    if (!Number.isFinite(v)) return v > 0 ? "float('inf')" : "float('-inf')";
    return String(v);
  }
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) return `(${v.map(py).join(", ")}${v.length === 1 ? "," : ""})`;
  throw new Error(`py(): cannot render ${typeof v}`);
}

function indent(code: string, pad: string): string {
  const lines = code.replace(/\t/g, "    ").split("\n");
  while (lines.length && lines[0].trim() === "") lines.shift();
  while (lines.length && lines[lines.length - 1].trim() === "") lines.pop();
  const min = Math.min(...lines.filter((l) => l.trim()).map((l) => l.match(/^ */)![0].length));
  const body = lines.map((l) => pad + l.slice(Number.isFinite(min) ? min : 0));
  return body.length ? body.join("\n") : pad + "pass";
}

// The Python side. Each snippet runs as `def case(I, O)`: I maps input names to fresh torch
// tensors (loaded from the files), the snippet stores results in O. Tensors, numbers, bools,
// strings and (nested) lists/tuples of them come back.
const PRELUDE = String.raw`
import json, os, sys, traceback
import torch
import torch.nn.functional as F
torch.set_num_threads(2)
D = sys.argv[1]
DT = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16, "bfloat16": torch.bfloat16,
      "int64": torch.int64, "int32": torch.int32, "int16": torch.int16, "int8": torch.int8, "uint8": torch.uint8,
      "bool": torch.bool}
NAME = {v: k for k, v in DT.items()}
EXT = ${JSON.stringify(EXT)}
MAN = json.load(open(os.path.join(D, "in.json")))

def load(spec):
    with open(os.path.join(D, spec["file"]), "rb") as f:
        b = f.read()
    dt = DT[spec["dtype"]]
    if len(b) == 0:
        return torch.empty(spec["shape"], dtype=dt)
    return torch.frombuffer(bytearray(b), dtype=dt).reshape(spec["shape"]).clone()

counter = [0]
def save(v):
    if isinstance(v, torch.Tensor):
        t = v.detach().cpu().contiguous()
        counter[0] += 1
        name = NAME[t.dtype]
        fn = "o%d.%s" % (counter[0], EXT[name])
        with open(os.path.join(D, fn), "wb") as f:
            if t.numel():
                # Raw bytes of any dtype: reinterpret the storage as uint8.
                f.write(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        return {"t": {"file": fn, "dtype": name, "shape": list(t.shape)}}
    if isinstance(v, (list, tuple, torch.Size)):
        return {"l": [save(x) for x in v]}
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return {"v": v}
    if isinstance(v, (int, float)):
        if v != v or v in (float("inf"), float("-inf")):
            return {"f": repr(v)}
        return {"v": v}
    if isinstance(v, torch.dtype):
        return {"v": NAME.get(v, str(v))}
    raise TypeError("cannot return a %s" % type(v).__name__)

RESULTS = {}
def run_case(name, fn):
    I = {k: load(s) for k, s in MAN[name].items()}
    O = {}
    try:
        torch.set_grad_enabled(True)
        fn(I, O)
        RESULTS[name] = {"out": {k: save(v) for k, v in O.items()}}
    except Exception:
        RESULTS[name] = {"error": traceback.format_exc()}
`;

export interface OracleOptions {
  /** Python's timeout in ms (default 120 s). */
  timeoutMs?: number;
}

/**
 * Collects snippets and their inputs, then runs them all in one Python process.
 *
 *   const oracle = new Oracle();
 *   oracle.add("relu", { x }, `O["y"] = torch.relu(I["x"])`);
 *   const results = await oracle.run();
 *   results.get("relu")!.tensor("y")
 */
export class Oracle {
  private readonly dir = mkdtempSync(join(tmpdir(), "winnow-oracle-"));
  private readonly manifest: Record<string, Record<string, InputSpec>> = {};
  private readonly snippets: [string, string][] = [];
  private files = 0;
  private ran = false;

  /** Registers a snippet. The inputs' values are written now (later in-place changes don't matter). */
  add(name: string, inputs: Record<string, Tensor>, code: string): void {
    if (this.ran) throw new Error("Oracle.add after run()");
    if (name in this.manifest) throw new Error(`Oracle: duplicate case name '${name}'`);
    const specs: Record<string, InputSpec> = {};
    for (const [k, t] of Object.entries(inputs)) specs[k] = this.write(t);
    this.manifest[name] = specs;
    this.snippets.push([name, code]);
  }

  private write(t: Tensor): InputSpec {
    const dtype = t.dtype;
    const file = `i${++this.files}.${EXT[dtype]}`;
    const arr = t.data(); // detached, contiguous, CPU copy
    writeFileSync(join(this.dir, file), new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength));
    return { file, dtype, shape: t.shape };
  }

  /** Runs every snippet in one Python process and returns their results by case name. */
  async run(opts: OracleOptions = {}): Promise<Map<string, CaseResult>> {
    if (this.ran) throw new Error("Oracle.run() called twice");
    this.ran = true;
    try {
      writeFileSync(join(this.dir, "in.json"), JSON.stringify(this.manifest));
      const parts = [PRELUDE];
      this.snippets.forEach(([name, code], i) => {
        parts.push(`def case_${i}(I, O):\n${indent(code, "    ")}\nrun_case(${JSON.stringify(name)}, case_${i})\n`);
      });
      parts.push(`json.dump(RESULTS, open(os.path.join(D, "out.json"), "w"))\n`);
      const script = join(this.dir, "oracle.py");
      writeFileSync(script, parts.join("\n"));
      try {
        await run(PYTHON, [script, this.dir], {
          timeout: opts.timeoutMs ?? 120_000,
          maxBuffer: 16 << 20,
          env: { ...process.env, OMP_NUM_THREADS: "2", PYTHONDONTWRITEBYTECODE: "1" },
        });
      } catch (e) {
        const err = e as { stderr?: string; message: string };
        throw new Error(`the PyTorch oracle (${PYTHON}) failed: ${err.message}\n${err.stderr ?? ""}`);
      }
      const raw = JSON.parse(readFileSync(join(this.dir, "out.json"), "utf8")) as Record<
        string, { out?: Record<string, unknown>; error?: string }
      >;
      const results = new Map<string, CaseResult>();
      for (const [name, r] of Object.entries(raw)) {
        const out: Record<string, OracleValue> = {};
        for (const [k, v] of Object.entries(r.out ?? {})) out[k] = this.decode(v);
        results.set(name, new CaseResult(name, out, r.error ?? null));
      }
      return results;
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }

  private decode(v: unknown): OracleValue {
    const o = v as { t?: InputSpec; l?: unknown[]; v?: unknown; f?: string };
    if (o.t) {
      const bytes = new Uint8Array(readFileSync(join(this.dir, o.t.file)));
      return new OracleTensor(o.t.shape, o.t.dtype, bytes);
    }
    if (o.l) return o.l.map((x) => this.decode(x));
    if (o.f !== undefined) return o.f === "nan" ? NaN : o.f.startsWith("-") ? -Infinity : Infinity;
    return o.v as OracleValue;
  }
}

// ---- comparison ----------------------------------------------------------------------------

export interface Tolerance {
  /** |a - e| <= atol + rtol * |e| elementwise (NaN matches NaN, ±Infinity must match exactly). */
  atol: number;
  rtol: number;
}
export const EXACT: Tolerance = { atol: 0, rtol: 0 };

function valuesOf(t: Tensor): number[] {
  return t.toArray();
}

/**
 * Asserts that a Winnow tensor matches PyTorch's: same shape, same dtype (unless `dtype: false`),
 * values within `tol`. The message names the worst element.
 */
export function assertClose(
  actual: Tensor, expected: OracleTensor, tol: Tolerance, label = "", opts: { dtype?: boolean } = {},
): void {
  const where = label ? `${label}: ` : "";
  const ashape = actual.shape;
  if (ashape.join(",") !== expected.shape.join(",")) {
    throw new Error(`${where}shape [${ashape}] != PyTorch's [${expected.shape}]`);
  }
  if (opts.dtype !== false && actual.dtype !== expected.dtype) {
    throw new Error(`${where}dtype ${actual.dtype} != PyTorch's ${expected.dtype}`);
  }
  assertValuesClose(valuesOf(actual), expected.values(), tol, where);
}

export function assertValuesClose(a: number[], e: number[], tol: Tolerance, where = ""): void {
  if (a.length !== e.length) throw new Error(`${where}${a.length} values != PyTorch's ${e.length}`);
  let worst = -1;
  let worstExcess = 0;
  let bad = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = e[i];
    if (Number.isNaN(x) && Number.isNaN(y)) continue;
    if (!Number.isFinite(x) || !Number.isFinite(y)) {
      if (x !== y) {
        bad++;
        if (worst < 0 || worstExcess !== Infinity) [worst, worstExcess] = [i, Infinity];
      }
      continue;
    }
    const excess = Math.abs(x - y) - (tol.atol + tol.rtol * Math.abs(y));
    if (excess > 0) {
      bad++;
      if (excess > worstExcess) [worst, worstExcess] = [i, excess];
    }
  }
  if (bad) {
    throw new Error(
      `${where}${bad}/${a.length} values differ from PyTorch's beyond atol=${tol.atol} rtol=${tol.rtol}; ` +
        `worst at flat index ${worst}: winnow ${a[worst]} vs pytorch ${e[worst]} (|diff| ${Math.abs(a[worst] - e[worst])})`,
    );
  }
}

/** Largest |a - e| over all elements (for reporting). */
export function maxAbsDiff(actual: Tensor, expected: OracleTensor): number {
  const a = valuesOf(actual);
  const e = expected.values();
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - e[i]));
  return m;
}
