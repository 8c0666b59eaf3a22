// Hostile and broken files: every one must fail with a CheckpointError naming the problem, execute
// nothing, and stay within bounded memory.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import {
  CheckpointError,
  Placeholder,
  encodeTorchFile,
  loadStateDictFile,
  rawTensorToContiguousBytes,
  readTorchFile,
  type RawTensor,
} from "../src/checkpoint/index.js";
import { PickleWriter } from "../src/checkpoint/pickle-write.js";
import { hasTorch, makeTempDir, NO_TORCH_REASON, PY_PRELUDE, runPython } from "./helpers/ckpt-python.js";
import { ascii, buildZip, findBytes, hostileTensorFile, patch, rawPickle } from "./helpers/ckpt-build.js";

const SENTINEL = `/tmp/pwned-${randomBytes(6).toString("hex")}`;
const rssStart = process.memoryUsage().rss;

/** Asserts a CheckpointError whose message matches every pattern (and optionally has `code`). */
function fails(fn: () => unknown, patterns: Array<RegExp | string>, code?: string): CheckpointError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof CheckpointError, `expected CheckpointError, got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
  for (const p of patterns) {
    if (typeof p === "string") assert.ok(err.message.includes(p), `${JSON.stringify(err.message)} lacks ${JSON.stringify(p)}`);
    else assert.match(err.message, p);
  }
  if (code) assert.equal(err.code, code, err.message);
  assert.notEqual(err.code, "INTERNAL", err.message);
  return err;
}

function validFile(): Uint8Array {
  const f32 = new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6]).buffer);
  return encodeTorchFile([["w", { dtype: "float32", shape: [2, 3], data: f32 }], ["b", { dtype: "int64", shape: [], data: new Uint8Array(8) }]]);
}

/** data.pkl + storages in a torch-like zip. */
function withPickle(pkl: Uint8Array, records: Array<[string, Uint8Array]> = []): Uint8Array {
  return buildZip([["archive/data.pkl", pkl], ...records, ["archive/version", ascii("3\n")]]);
}

const SHELL = `touch ${SENTINEL}`;
function callPickle(module: string, name: string, arg: string, stackGlobal = false): Uint8Array {
  const a = ascii(arg);
  const len = [a.length & 0xff, (a.length >> 8) & 0xff, 0, 0];
  const g = stackGlobal
    ? [0x8c, module.length, module, 0x8c, name.length, name, 0x93]
    : ["c", `${module}\n${name}\n`];
  return rawPickle(0x80, stackGlobal ? 4 : 2, ...g, 0x58, ...len, a, 0x85, 0x52, 0x2e);
}

describe("dangerous globals are refused in every mode and nothing runs", () => {
  const cases: Array<[string, string, string]> = [
    ["os", "system", SHELL],
    ["posix", "system", SHELL],
    ["nt", "system", SHELL],
    ["builtins", "eval", `__import__('os').system('${SHELL}')`],
    ["__builtin__", "eval", `__import__('os').system('${SHELL}')`],
    ["builtins", "exec", `import os; os.system('${SHELL}')`],
    ["builtins", "getattr", "x"],
    ["builtins", "__import__", "os"],
    ["subprocess", "check_output", SHELL],
    ["subprocess", "Popen", SHELL],
    ["importlib", "import_module", "os"],
    ["runpy", "run_path", "/tmp/x.py"],
    ["pickle", "loads", "x"],
  ];
  for (const [m, n, arg] of cases) {
    for (const sg of [false, true]) {
      test(`${m}.${n}${sg ? " (STACK_GLOBAL)" : ""}`, () => {
        const file = withPickle(callPickle(m, n, arg, sg));
        for (const lenient of [false, true]) {
          fails(() => readTorchFile(file, { lenient, name: "evil.pt" }), [/^evil\.pt: /, "dangerous global", `${m}.${n}`], "UNSAFE_GLOBAL");
        }
        fails(() => loadStateDictFile(file), [/dangerous global/], "UNSAFE_GLOBAL");
        assert.equal(fs.existsSync(SENTINEL), false);
      });
    }
  }
});

describe("REDUCE on callables outside the allowlist", () => {
  // a harmless-looking function that would create the sentinel if anything ever called it
  const pkl = callPickle("mypackage.helpers", "make_file", SENTINEL);
  const file = withPickle(pkl);
  test("strict: error naming module.name", () => {
    fails(() => readTorchFile(file), [/unsupported global mypackage\.helpers\.make_file/, /lenient/], "UNKNOWN_GLOBAL");
  });
  test("lenient: an inert placeholder that records the call", () => {
    const p = readTorchFile(file, { lenient: true }) as Placeholder;
    assert.ok(p instanceof Placeholder);
    assert.equal(p.module, "mypackage.helpers");
    assert.equal(p.name, "make_file");
    assert.equal(p.called, true);
    assert.deepEqual(p.args, [SENTINEL]);
    assert.equal(fs.existsSync(SENTINEL), false);
    // and there is no state dict in it
    fails(() => loadStateDictFile(file), [/no state dict/, /mypackage\.helpers\.make_file/]);
  });
  test("an allowlisted global that is not callable (a storage class) cannot be REDUCEd", () => {
    fails(() => readTorchFile(withPickle(rawPickle(0x80, 2, "ctorch\nFloatStorage\n", 0x29, 0x52, 0x2e))), [/torch\.FloatStorage cannot be called/]);
  });
});

describe("python-built malicious checkpoints", () => {
  let dir = "";
  before(() => {
    dir = makeTempDir();
    runPython(
      PY_PRELUDE +
        String.raw`
import subprocess
d = INPUT["dir"]; s = INPUT["sentinel"]
class EvilSystem:
    def __reduce__(self): return (os.system, ("touch " + s,))
class EvilEval:
    def __reduce__(self): return (eval, ("__import__('os').system('touch %s')" % s,))
class EvilPopen:
    def __reduce__(self): return (subprocess.Popen, (["touch", s],))
def make_file(p):
    open(p, "w").close()
class Sneaky:
    def __reduce__(self): return (make_file, (s,))
sd = collections.OrderedDict(w=torch.ones(2))
for name, obj in [("system", EvilSystem()), ("eval", EvilEval()), ("popen", EvilPopen()), ("sneaky", Sneaky())]:
    torch.save({"state_dict": sd, "payload": obj}, os.path.join(d, name + ".pt"))
# the tensor itself hidden behind an evil reduce
torch.save(collections.OrderedDict(w=EvilSystem()), os.path.join(d, "in_sd.pt"))
# a deflated zip (torch never writes one)
with zipfile.ZipFile(os.path.join(d, "system.pt")) as zin, zipfile.ZipFile(os.path.join(d, "deflated.pt"), "w", zipfile.ZIP_DEFLATED) as zout:
    for i in zin.infolist(): zout.writestr(i.filename, zin.read(i.filename))
assert not os.path.exists(s)
out(True)
`,
      { dir, sentinel: SENTINEL },
    );
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("os.system (pickled as posix.system), eval, subprocess.Popen: refused even by loadStateDictFile", () => {
    for (const [f, g] of [["system", "posix.system"], ["eval", "builtins.eval (written as __builtin__.eval)"], ["popen", "subprocess.Popen"], ["in_sd", "posix.system"]]) {
      const p = path.join(dir, `${f}.pt`);
      fails(() => readTorchFile(p), [`dangerous global ${g}`, p], "UNSAFE_GLOBAL");
      fails(() => readTorchFile(p, { lenient: true }), [/dangerous global/], "UNSAFE_GLOBAL");
      fails(() => loadStateDictFile(p), [/dangerous global/], "UNSAFE_GLOBAL");
    }
    assert.equal(fs.existsSync(SENTINEL), false);
  });

  test("a __main__ function: strict error, lenient placeholder, state dict still loads, nothing runs", () => {
    const p = path.join(dir, "sneaky.pt");
    fails(() => readTorchFile(p), [/__main__\.make_file/], "UNKNOWN_GLOBAL");
    const top = readTorchFile(p, { lenient: true }) as Map<string, unknown>;
    const ph = top.get("payload") as Placeholder;
    assert.ok(ph instanceof Placeholder && ph.called && ph.args[0] === SENTINEL);
    assert.deepEqual([...loadStateDictFile(p).keys()], ["w"]);
    assert.equal(fs.existsSync(SENTINEL), false);
  });

  test("compressed zip entries are refused", () => {
    fails(() => readTorchFile(path.join(dir, "deflated.pt")), [/compressed/], "UNSUPPORTED");
  });
});

describe("broken containers", () => {
  const good = validFile();
  test("the valid file reads", () => {
    assert.equal(loadStateDictFile(good).size, 2);
  });

  test("truncated zips, at many cut points", () => {
    for (const cut of [0, 1, 4, 21, 22, 64, 100, 200, good.length >> 1, good.length - 200, good.length - 99, good.length - 22, good.length - 1]) {
      fails(() => readTorchFile(good.subarray(0, cut), { name: "cut.pt" }), [/^cut\.pt: /]);
    }
  });

  test("wrong CRC in a storage record names the entry", () => {
    const at = findBytes(good, new Uint8Array(new Float32Array([1, 2]).buffer));
    const bad = patch(good, at, [0x42]);
    fails(() => loadStateDictFile(bad), [/CRC32 mismatch in entry archive\/data\/0/], "CRC");
  });

  test("wrong CRC in data.pkl", () => {
    const at = findBytes(good, ascii("state_dict"));
    fails(() => readTorchFile(patch(good, at, ascii("S"))), [/CRC32 mismatch in entry archive\/data\.pkl/], "CRC");
  });

  test("a central directory entry claiming 10 GB (zip64) / 3 GB (32-bit)", () => {
    const z64 = buildZip([["archive/data.pkl", new Uint8Array(10)], ["archive/version", ascii("3\n")]], { forceZip64: true });
    // the zip64 extra of the first central entry holds (size, compressed size, offset)
    const cd = findBytes(z64, Uint8Array.from([0x50, 0x4b, 0x01, 0x02]));
    const extra = cd + 46 + "archive/data.pkl".length + 4;
    const ten = new Uint8Array(16);
    new DataView(ten.buffer).setBigUint64(0, 10n * 10n ** 9n, true);
    new DataView(ten.buffer).setBigUint64(8, 10n * 10n ** 9n, true);
    fails(() => readTorchFile(patch(z64, extra, ten)), [/archive\/data\.pkl claims 10000000000 bytes/]);
    const cd32 = findBytes(good, Uint8Array.from([0x50, 0x4b, 0x01, 0x02]));
    fails(() => readTorchFile(patch(good, cd32 + 20, [0, 0, 0, 0xc0, 0, 0, 0, 0xc0])), [/claims 3221225472 bytes/]);
  });

  test("end record pointing outside the file", () => {
    // torch always writes a zip64 end record, which takes precedence: corrupt its directory offset
    const e64 = good.length - 22 - 20 - 56;
    fails(() => readTorchFile(patch(good, e64 + 48, [0xff, 0xff, 0xff, 0x7f])), [/central directory .* extends past the end/]);
    fails(() => readTorchFile(patch(good, e64 + 32, [0xff, 0xff, 0xff, 0x7f])), [/claims \d+ entries/]);
    const loc = good.length - 22 - 20;
    fails(() => readTorchFile(patch(good, loc + 8, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0])), [/zip64 end record/]);
  });

  test("not a zip at all, empty zip, duplicate entries, local name mismatch", () => {
    fails(() => readTorchFile(ascii("hello world, I am not a checkpoint")), [/not a zip archive/]);
    fails(() => readTorchFile(buildZip([])), [/empty|not a zip/]);
    fails(() => readTorchFile(buildZip([["archive/data.pkl", ascii("x")], ["archive/data.pkl", ascii("y")]])), [/duplicate zip entry/]);
    const i = findBytes(good, ascii("archive/data.pkl"));
    fails(() => readTorchFile(patch(good, i, ascii("ARCHIVE"))), [/local header names a different file/]);
  });

  test("big-endian byteorder record", () => {
    const f = buildZip([["archive/data.pkl", ascii("\x80\x02}.")], ["archive/byteorder", ascii("big")], ["archive/version", ascii("3\n")]]);
    fails(() => readTorchFile(f), [/big-endian/], "UNSUPPORTED");
    const g = buildZip([["archive/data.pkl", ascii("\x80\x02}.")], ["archive/byteorder", ascii("middle")]]);
    fails(() => readTorchFile(g), [/byteorder/]);
  });

  test("missing data.pkl / missing storage record", () => {
    fails(() => readTorchFile(buildZip([["archive/version", ascii("3\n")]])), [/data\.pkl is missing/]);
    const f = buildZip([["archive/data.pkl", hostileTensorFileData()]]);
    fails(() => readTorchFile(f), [/storage record archive\/data\/0 is missing/]);
  });
});

function hostileTensorFileData(): Uint8Array {
  const z = hostileTensorFile({ numel: 4, size: [4], stride: [1] }, 16);
  return readEntry(z, "archive/data.pkl");
}
function readEntry(zip: Uint8Array, name: string): Uint8Array {
  const i = findBytes(zip, ascii(name + "FB"));
  const padLen = zip[i + name.length + 2]! | (zip[i + name.length + 3]! << 8);
  const start = i + name.length + 4 + padLen;
  const end = findBytes(zip, Uint8Array.from([0x50, 0x4b, 0x07, 0x08]), start);
  return zip.subarray(start, end);
}

describe("hostile tensor descriptions", () => {
  test("shape [2**40, 2**40] overflows", () => {
    fails(() => readTorchFile(hostileTensorFile({ numel: 4, size: [2 ** 40, 2 ** 40], stride: [2 ** 40, 1] }, 16)), [/overflows/], "TENSOR");
  });
  test("numel far beyond 2**53 (LONG1 ints) is rejected, not rounded", () => {
    const w = hostileTensorFile({ numel: 4, size: [4], stride: [1] }, 16);
    assert.equal(loadStateDictFile(w).get("t")!.shape[0], 4);
    fails(() => readTorchFile(hostileTensorFile({ numel: 4, size: [2n ** 62n], stride: [1] }, 16)), [/huge integer|overflows|invalid/], "TENSOR");
  });
  test("storage shorter than the tensor needs", () => {
    fails(() => readTorchFile(hostileTensorFile({ numel: 4, size: [10], stride: [1] }, 16)), [/needs 10 elements but its storage has only 4/], "TENSOR");
    fails(() => readTorchFile(hostileTensorFile({ numel: 4, offset: 3, size: [2], stride: [1] }, 16)), [/needs 5 elements/], "TENSOR");
    fails(() => readTorchFile(hostileTensorFile({ numel: 12, size: [3, 4], stride: [5, 1] }, 48)), [/needs 14 elements/], "TENSOR");
    fails(() => readTorchFile(hostileTensorFile({ numel: 4, size: [2], stride: [-1] }, 16)), [/invalid stride/], "TENSOR");
    fails(() => readTorchFile(hostileTensorFile({ numel: 4, size: [2, 2], stride: [1] }, 16)), [/2 dims but stride has 1/], "TENSOR");
  });
  test("a storage claiming 10 GB backed by a 16-byte record: refused before any allocation", () => {
    fails(() => readTorchFile(hostileTensorFile({ numel: 2.5e9, size: [4], stride: [1] }, 16)), [/claims 2500000000 float32 elements \(10000000000 bytes\) but record archive\/data\/0 holds 16 bytes/], "TENSOR");
  });
  test("a valid expanded view of 2**40 elements reads, but materialising it is refused", () => {
    const t = loadStateDictFile(hostileTensorFile({ numel: 1, size: [2 ** 20, 2 ** 20], stride: [0, 0] }, 4)).get("t")!;
    fails(() => rawTensorToContiguousBytes(t), [/exceed/], "LIMIT");
  });
  test("unknown storage types", () => {
    fails(() => readTorchFile(hostileTensorFile({ storageClass: "ComplexFloatStorage", numel: 1, size: [1], stride: [1] }, 8)), [/torch\.ComplexFloatStorage/]);
    fails(() => readTorchFile(hostileTensorFile({ storageClass: "ComplexFloatStorage", numel: 1, size: [1], stride: [1] }, 8), { lenient: true }), [/unsupported storage type torch\.ComplexFloatStorage/], "UNSUPPORTED");
  });
});

describe("hostile pickles", () => {
  test("deep MARK nesting", () => {
    const p = new Uint8Array(200_000).fill(0x28);
    p[0] = 0x80;
    p[1] = 2;
    fails(() => readTorchFile(withPickle(p)), [/nesting deeper/], "LIMIT");
  });
  test("100k-deep nesting (TUPLE1 chains) does not recurse", () => {
    const n = 100_000;
    const p = new Uint8Array(n + 4).fill(0x85);
    p.set([0x80, 2, 0x4e]);
    p[n + 3] = 0x2e;
    let r = readTorchFile(withPickle(p)) as unknown;
    let depth = 0;
    while (Array.isArray(r)) {
      r = r[0];
      depth++;
    }
    assert.equal(depth, n);
  });
  test("huge memo indexes are fine; undefined memo keys are errors", () => {
    fails(() => readTorchFile(withPickle(rawPickle(0x80, 2, 0x4e, 0x72, 0xff, 0xff, 0xff, 0xff, 0x6a, 0xfe, 0xff, 0xff, 0xff, 0x2e))), [/memo key 4294967294 is not defined/]);
    assert.equal(readTorchFile(withPickle(rawPickle(0x80, 2, 0x4e, 0x72, 0xff, 0xff, 0xff, 0xff, 0x6a, 0xff, 0xff, 0xff, 0xff, 0x2e))), null);
  });
  test("allocation budget: a stream of empty dicts", () => {
    const n = 2_000_000;
    const p = new Uint8Array(n + 3).fill(0x7d);
    p[0] = 0x80;
    p[1] = 2;
    p[n + 2] = 0x2e;
    fails(() => readTorchFile(withPickle(p)), [/would allocate more than/], "LIMIT");
  });
  test("memoized arguments cannot multiply allocations (_codecs.encode, placeholders, OrderedDict)", () => {
    const big = 1_000_000;
    const reps = 50_000;
    // memo 0 = _codecs.encode, memo 1 = a 1 MB string, memo 2 = "latin1"; then encode it over and over
    const head = [0x80, 2, ..."c_codecs\nencode\n".split("").map((c) => c.charCodeAt(0)), 0x71, 0, 0x58, big & 0xff, (big >> 8) & 0xff, big >> 16, 0];
    const body = new Uint8Array(big).fill(0x61);
    const mid = [0x71, 1, 0x58, 6, 0, 0, 0, ..."latin1".split("").map((c) => c.charCodeAt(0)), 0x71, 2, 0x30, 0x30, 0x30, 0x28];
    const loop = [0x68, 0, 0x68, 1, 0x68, 2, 0x86, 0x52];
    const p = new Uint8Array(head.length + big + mid.length + loop.length * reps + 2);
    p.set(head);
    p.set(body, head.length);
    p.set(mid, head.length + big);
    for (let i = 0; i < reps; i++) p.set(loop, head.length + big + mid.length + i * loop.length);
    p.set([0x74, 0x2e], p.length - 2);
    fails(() => readTorchFile(withPickle(p)), [/would allocate more than/], "LIMIT");
    // a 1M-element tuple passed to a placeholder again and again (lenient)
    const n = 1_000_000;
    const parts: number[] = [0x80, 2, 0x28];
    for (let i = 0; i < n; i++) parts.push(0x4e);
    parts.push(0x74, 0x71, 0, ..."cmod\nf\n".split("").map((c) => c.charCodeAt(0)), 0x71, 1, 0x30, 0x30, 0x28);
    for (let i = 0; i < 20_000; i++) parts.push(0x68, 1, 0x68, 0, 0x52);
    parts.push(0x74, 0x2e);
    fails(() => readTorchFile(withPickle(Uint8Array.from(parts)), { lenient: true }), [/would allocate more than/], "LIMIT");
  });
  test("unknown opcode names the byte and offset", () => {
    fails(() => readTorchFile(withPickle(rawPickle(0x80, 2, 0x4e, 0x84, 0x2e))), [/pickle offset 3: unsupported pickle opcode 0x84/]);
    fails(() => readTorchFile(withPickle(rawPickle(0x80, 2, "I42\n."))), [/offset 2: unsupported pickle opcode 0x49 \('I'\)/]);
  });
  test("truncated strings, missing STOP, stack underflow, bad protocol", () => {
    fails(() => readTorchFile(withPickle(rawPickle(0x80, 2, 0x58, 0xff, 0xff, 0xff, 0x7f, "abc"))), [/truncated pickle/]);
    fails(() => readTorchFile(withPickle(rawPickle(0x80, 2, 0x4e))), [/without STOP/]);
    fails(() => readTorchFile(withPickle(rawPickle(0x80, 2, 0x73, 0x2e))), [/stack underflow/]);
    fails(() => readTorchFile(withPickle(rawPickle(0x80, 9, 0x4e, 0x2e))), [/protocol 9/]);
    fails(() => readTorchFile(withPickle(rawPickle(0x80, 2, 0x4e, 0x4e, 0x4e, 0x73, 0x2e))), [/SETITEM on a None/]);
  });
  test("persistent ids other than storages", () => {
    fails(() => readTorchFile(withPickle(rawPickle(0x80, 2, 0x4e, 0x51, 0x2e))), [/5-tuple/]);
    const w = new PickleWriter();
    w.proto(2).mark();
    w.str("module");
    w.global("torch", "FloatStorage");
    w.str("0");
    w.str("cpu");
    w.int(1);
    w.tupleEnd(5).persid().stop();
    fails(() => readTorchFile(withPickle(w.bytes())), [/only storages/]);
  });
  test("sets need lenient mode; BUILD on a list is refused", () => {
    fails(() => readTorchFile(withPickle(rawPickle(0x80, 4, 0x8f, 0x2e))), [/lenient/]);
    assert.ok(readTorchFile(withPickle(rawPickle(0x80, 4, 0x8f, 0x2e)), { lenient: true }) instanceof Set);
    fails(() => readTorchFile(withPickle(rawPickle(0x80, 2, 0x5d, 0x4e, 0x62, 0x2e))), [/BUILD on a list/]);
  });
  test("memory stayed bounded across all hostile inputs", () => {
    assert.equal(fs.existsSync(SENTINEL), false);
    const grown = (process.memoryUsage().rss - rssStart) / 2 ** 20;
    assert.ok(grown < 1024, `rss grew by ${grown.toFixed(0)} MiB`);
  });
});

test("a tensor of the hostile kind cannot pass as a RawTensor look-alike", () => {
  const fake = { dtype: "float32", shape: [1e9], stride: [1], storageOffset: 0, storage: { key: "0", dtype: "float32", numel: 1, bytes: new Uint8Array(4), device: "cpu" }, requiresGrad: false } as RawTensor;
  fails(() => rawTensorToContiguousBytes(fake), [/needs 1000000000 elements/]);
});
