// Runs Python snippets under the system interpreter that has PyTorch (Debian python3-torch 1.13).
// The first python3 on PATH has no torch, so the path is explicit. Code goes in on stdin, inputs as
// JSON in a temp file (path in $CKPT_INPUT); the snippet prints one JSON document as its last line.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export const PYTHON = process.env.CKPT_PYTHON ?? "/usr/bin/python3";

let torchAvailable: boolean | undefined;
/** Whether the oracle (python + torch) is usable; tests assert it (a missing oracle is a failure). */
export function hasTorch(): boolean {
  if (torchAvailable === undefined) {
    const r = spawnSync(PYTHON, ["-c", "import torch"], { encoding: "utf8" });
    torchAvailable = r.status === 0;
  }
  return torchAvailable;
}

export const NO_TORCH_REASON = `${PYTHON} with torch is not available`;

export function runPython<T = unknown>(code: string, input: unknown = null, timeoutMs = 120_000): T {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ckpt-py-"));
  try {
    const inputPath = path.join(dir, "input.json");
    fs.writeFileSync(inputPath, JSON.stringify(input));
    const r = spawnSync(PYTHON, ["-"], {
      input: code,
      encoding: "utf8",
      env: { ...process.env, CKPT_INPUT: inputPath, OMP_NUM_THREADS: "1", PYTHONDONTWRITEBYTECODE: "1" },
      timeout: timeoutMs,
      maxBuffer: 256 * 1024 * 1024,
    });
    if (r.status !== 0) {
      throw new Error(`python failed (status ${r.status}, signal ${r.signal}):\n${r.stderr}\n${r.stdout.slice(-2000)}`);
    }
    const lines = r.stdout.trim().split("\n");
    return JSON.parse(lines[lines.length - 1]!) as T;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Python prelude: imports plus helpers shared by the test snippets. */
export const PY_PRELUDE = String.raw`
import json, os, sys, hashlib, zipfile, struct, collections
import torch
INPUT = json.load(open(os.environ["CKPT_INPUT"]))
def tbytes(t):
    # contiguous little-endian bytes of any dtype (bfloat16 has no numpy twin)
    return t.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
def tinfo(t):
    return {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape), "stride": list(t.stride()),
            "offset": t.storage_offset(), "sha256": hashlib.sha256(tbytes(t)).hexdigest(),
            "requires_grad": bool(t.requires_grad), "storage_ptr": t.storage().data_ptr(), "nbytes": t.numel() * t.element_size()}
def out(x):
    print(json.dumps(x))
`;

export function makeTempDir(prefix = "ckpt-test-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}
