// A restricted pickle virtual machine, in the spirit of torch's weights_only unpickler: it never
// resolves a GLOBAL to code. Allowlisted globals map to TypeScript handlers supplied by the caller;
// in lenient mode everything else becomes an inert Placeholder that records what would have been
// called; a denylist of obviously dangerous names is refused in every mode. The VM is iterative
// (no recursion), and its allocations are charged against a budget so hostile streams stay bounded.
// One idea over 400 lines: the opcode loop is one switch, kept whole so every opcode's checks read together.
import { CheckpointError } from "./errors.js";

/** An allowlisted global as it sits on the pickle stack (inert data; calling goes through handlers). */
export class PickleGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get fullName(): string {
    return `${this.module}.${this.name}`;
  }
}

/**
 * Lenient-mode stand-in for a class or function outside the allowlist. Never resolved, never called:
 * it only records the name and whatever the pickle passed to it.
 */
export class Placeholder {
  /** false: a bare reference to the global; true: the result of "calling" it (REDUCE/NEWOBJ). */
  called = false;
  args: unknown[] = [];
  kwargs: Map<unknown, unknown> | undefined = undefined;
  /** What BUILD passed (usually the object's __dict__ as a Map). */
  state: unknown = undefined;
  /** Items added with SETITEM(S), for dict subclasses such as Lightning's AttributeDict. */
  dictItems: Map<unknown, unknown> | undefined = undefined;
  /** Items added with APPEND(S), for list subclasses. */
  listItems: unknown[] | undefined = undefined;
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  toString(): string {
    return `<placeholder ${this.module}.${this.name}>`;
  }
}

export interface GlobalHandler {
  /** REDUCE: called with the argument tuple (already a frozen array). */
  reduce?: (args: readonly unknown[]) => unknown;
  /** NEWOBJ: cls.__new__(cls, *args). */
  newobj?: (args: readonly unknown[]) => unknown;
}

export interface UnpickleOptions {
  /** Allowlist: "module.name" → handler. */
  globals: ReadonlyMap<string, GlobalHandler>;
  lenient: boolean;
  /** BINPERSID handler; receives the popped persistent id. */
  persistentLoad?: (pid: unknown) => unknown;
  /** Approximate byte budget for everything the stream makes us allocate (default 256 MiB). */
  maxAllocation?: number;
  /** Max MARK nesting (default 10000; CPython's own pickler cannot nest deeper than its recursion limit). */
  maxDepth?: number;
  /** Where the stream starts in `data` (the legacy torch.save format holds several pickles back to back). */
  start?: number;
}

// Python 2 module names that protocol-2 pickles use, mapped the way Python 3's unpickler does.
const MODULE_ALIASES: Record<string, string> = {
  __builtin__: "builtins",
  exceptions: "builtins",
  copy_reg: "copyreg",
  cPickle: "pickle",
  commands: "subprocess",
  UserDict: "collections",
  UserList: "collections",
};

const DANGEROUS_MODULES = [
  "os", "posix", "nt", "posixpath", "ntpath", "subprocess", "sys", "importlib", "imp", "runpy", "pty", "shutil",
  "socket", "ctypes", "marshal", "pickle", "_pickle", "dill", "cloudpickle", "joblib", "code", "codeop", "webbrowser",
  "multiprocessing", "_posixsubprocess", "signal", "asyncio", "threading", "_thread", "ftplib", "http", "urllib",
  "smtplib", "telnetlib", "tempfile", "io", "_io", "platform", "pdb", "bdb", "timeit", "trace", "cProfile", "profile",
  "builtins.__dict__", "inspect", "gc", "zipimport", "pkgutil", "distutils", "setuptools", "pip", "torch.hub",
  "torch.ops", "torch._ops", "torch.jit", "torch.package", "torch.utils.cpp_extension", "numpy.testing", "numpy.f2py",
  "numpy.distutils",
];
const DANGEROUS_NAMES = new Set([
  "builtins.eval", "builtins.exec", "builtins.execfile", "builtins.compile", "builtins.open", "builtins.input",
  "builtins.raw_input", "builtins.getattr", "builtins.setattr", "builtins.delattr", "builtins.__import__",
  "builtins.globals", "builtins.locals", "builtins.vars", "builtins.breakpoint", "builtins.exit", "builtins.quit",
  "builtins.help", "builtins.apply", "builtins.reload", "builtins.file", "operator.attrgetter", "operator.methodcaller",
  "torch.load", "torch.serialization.load", "numpy.load", "numpy.loadtxt", "numpy.fromfile", "numpy.lib.npyio.load",
  "types.FunctionType", "types.CodeType", "types.MethodType", "types.ModuleType",
]);

export function normalizeModule(module: string): string {
  return MODULE_ALIASES[module] ?? module;
}

/** True for names refused even in lenient mode. */
export function isDangerousGlobal(module: string, name: string): boolean {
  const mods = [module, normalizeModule(module)];
  for (const m of mods) {
    if (DANGEROUS_NAMES.has(`${m}.${name}`)) return true;
    for (const d of DANGEROUS_MODULES) if (m === d || m.startsWith(d + ".")) return true;
    // dunder attributes are how gadget chains reach code objects
    if (name.startsWith("__") && name !== "__newobj__" && name !== "__newobj_ex__") return true;
  }
  return false;
}

const attributes = new WeakMap<object, unknown>();

/** State that BUILD attached to a dict (e.g. a state dict's `_metadata`), if any. */
export function pickleAttributes(obj: object): unknown {
  return attributes.get(obj);
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const MAX_LINE = 4096;
const MAX_LONG_BYTES = 1 << 16;

function isTuple(x: unknown): x is readonly unknown[] {
  return Array.isArray(x) && Object.isFrozen(x);
}

function describe(x: unknown): string {
  if (x === null) return "None";
  if (x instanceof Map) return "dict";
  if (isTuple(x)) return "tuple";
  if (Array.isArray(x)) return "list";
  if (x instanceof Uint8Array) return "bytes";
  if (x instanceof Placeholder) return `placeholder ${x.module}.${x.name}`;
  if (x instanceof PickleGlobal) return `global ${x.fullName}`;
  if (typeof x === "object") return (x as object).constructor?.name ?? "object";
  return typeof x;
}

/**
 * Rough heap cost of what a REDUCE/NEWOBJ produced. Charged after the fact: one allocation is at
 * most as large as the pickle itself, but memoized arguments let a few bytes of opcodes repeat it,
 * so the cumulative total must be bounded.
 */
function estimate(x: unknown): number {
  if (x instanceof Uint8Array) return 64 + x.length;
  if (x instanceof Map) return 200 + 48 * x.size;
  if (x instanceof Set) return 170 + 16 * x.size;
  if (Array.isArray(x)) return 40 + 8 * x.length;
  if (x instanceof Placeholder) return 160 + 8 * x.args.length;
  if (typeof x === "string") return 32 + 2 * x.length;
  return 200;
}

/** Converts a BigInt to a number when it is exactly representable. */
export function normalizeInt(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function decodeLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let hex = "";
  for (let i = b.length - 1; i >= 0; i--) hex += b[i]!.toString(16).padStart(2, "0");
  let v = BigInt("0x" + hex);
  if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(b.length * 8);
  return normalizeInt(v);
}

export function unpickle(data: Uint8Array, opts: UnpickleOptions): unknown {
  return unpickleAt(data, opts).value;
}

/** Unpickles one stream starting at `opts.start`; `end` is the offset just past its STOP. */
export function unpickleAt(data: Uint8Array, opts: UnpickleOptions): { value: unknown; end: number } {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const len = data.length;
  const lenient = opts.lenient;
  const maxAlloc = opts.maxAllocation ?? 256 * 1024 * 1024;
  const maxDepth = opts.maxDepth ?? 10000;
  let allocated = 0;
  let pos = opts.start ?? 0;
  let opPos = pos;
  let stack: unknown[] = [];
  const metastack: unknown[][] = [];
  const memo = new Map<number, unknown>();

  const fail = (msg: string, code: "PICKLE" | "LIMIT" = "PICKLE"): never => {
    throw new CheckpointError(`pickle offset ${opPos}: ${msg}`, code);
  };
  const charge = (n: number): void => {
    allocated += n;
    if (allocated > maxAlloc) fail(`the pickle would allocate more than ${maxAlloc} bytes`, "LIMIT");
  };
  const need = (n: number): void => {
    if (n < 0 || pos + n > len) fail(`truncated pickle: opcode needs ${n} more bytes but only ${len - pos} remain`);
  };
  const u8 = (): number => {
    need(1);
    return data[pos++]!;
  };
  const u16 = (): number => {
    need(2);
    const v = view.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = (): number => {
    need(4);
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = (): number => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(len)) fail(`length ${v} exceeds the pickle's size`);
    return Number(v);
  };
  const bytes = (n: number): Uint8Array => {
    need(n);
    const b = data.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  const str = (n: number): string => {
    const b = bytes(n);
    charge(2 * n + 32);
    try {
      return utf8.decode(b);
    } catch {
      return fail("string is not valid UTF-8");
    }
  };
  const copyBytes = (n: number): Uint8Array => {
    charge(n + 64);
    return bytes(n).slice();
  };
  const line = (): string => {
    const limit = Math.min(len, pos + MAX_LINE);
    let e = pos;
    while (e < limit && data[e] !== 0x0a) e++;
    if (e >= limit) fail("GLOBAL name is unterminated or too long");
    const s = str(e - pos);
    pos++;
    return s;
  };
  const push = (x: unknown): void => {
    charge(8);
    stack.push(x);
  };
  const pop = (): unknown => {
    if (stack.length === 0) fail("stack underflow (malformed pickle)");
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) fail("stack underflow (malformed pickle)");
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const items = stack;
    const prev = metastack.pop();
    if (prev === undefined) fail("MARK expected but not found (malformed pickle)");
    stack = prev!;
    return items;
  };
  const tuple = (items: unknown[]): readonly unknown[] => {
    charge(40 + 8 * items.length);
    return Object.freeze(items);
  };
  const memoGet = (i: number): void => {
    if (!memo.has(i)) fail(`memo key ${i} is not defined`);
    push(memo.get(i));
  };
  const memoPut = (i: number): void => {
    charge(48);
    memo.set(i, top());
  };

  const resolveGlobal = (module: string, name: string): unknown => {
    const full = `${module}.${name}`;
    if (isDangerousGlobal(module, name)) {
      const norm = `${normalizeModule(module)}.${name}`;
      const shown = norm === full ? full : `${norm} (written as ${full})`;
      throw new CheckpointError(`pickle offset ${opPos}: refusing dangerous global ${shown}`, "UNSAFE_GLOBAL");
    }
    const norm = `${normalizeModule(module)}.${name}`;
    if (opts.globals.has(full) || opts.globals.has(norm)) {
      charge(64);
      return new PickleGlobal(module, name);
    }
    if (lenient) {
      charge(160);
      return new Placeholder(module, name);
    }
    throw new CheckpointError(
      `pickle offset ${opPos}: unsupported global ${full} (not in the weights-only allowlist; read with lenient: true to keep it as an inert placeholder)`,
      "UNKNOWN_GLOBAL",
    );
  };
  const handlerOf = (g: PickleGlobal): GlobalHandler =>
    opts.globals.get(g.fullName) ?? opts.globals.get(`${normalizeModule(g.module)}.${g.name}`) ?? {};

  const callPlaceholder = (p: Placeholder, args: readonly unknown[], kwargs?: Map<unknown, unknown>): Placeholder => {
    charge(160 + 8 * args.length);
    const r = new Placeholder(p.module, p.name);
    r.called = true;
    r.args = [...args];
    r.kwargs = kwargs;
    return r;
  };

  const setItem = (target: unknown, k: unknown, v: unknown): void => {
    charge(48);
    if (target instanceof Map) target.set(k, v);
    else if (lenient && target instanceof Placeholder) (target.dictItems ??= new Map()).set(k, v);
    else fail(`SETITEM on a ${describe(target)}`);
  };
  const appendItems = (target: unknown, items: unknown[]): void => {
    charge(8 * items.length);
    if (Array.isArray(target) && !Object.isFrozen(target)) {
      for (const it of items) target.push(it);
    } else if (lenient && target instanceof Placeholder) {
      const l = (target.listItems ??= []);
      for (const it of items) l.push(it);
    } else fail(`APPEND on a ${describe(target)}`);
  };

  for (;;) {
    opPos = pos;
    if (pos >= len) fail("pickle ended without STOP (truncated)");
    const op = data[pos++]!;
    switch (op) {
      case 0x80: { // PROTO
        const v = u8();
        if (v > 5) fail(`unsupported pickle protocol ${v}`);
        break;
      }
      case 0x95: // FRAME: only a buffering hint
        u64();
        break;
      case 0x2e: // STOP
        return { value: pop(), end: pos };
      case 0x28: // MARK
        if (metastack.length >= maxDepth) fail(`nesting deeper than ${maxDepth}`, "LIMIT");
        charge(64);
        metastack.push(stack);
        stack = [];
        break;
      case 0x30: // POP
        if (stack.length) stack.pop();
        else popMark();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        push(top());
        break;
      // ---- constants
      case 0x4e: push(null); break; // NONE
      case 0x88: push(true); break; // NEWTRUE
      case 0x89: push(false); break; // NEWFALSE
      case 0x4a: { // BININT
        need(4);
        const v = view.getInt32(pos, true);
        pos += 4;
        push(v);
        break;
      }
      case 0x4b: push(u8()); break; // BININT1
      case 0x4d: push(u16()); break; // BININT2
      case 0x8a: { // LONG1
        const n = u8();
        charge(n + 32);
        push(decodeLong(bytes(n)));
        break;
      }
      case 0x8b: { // LONG4
        need(4);
        const n = view.getInt32(pos, true);
        pos += 4;
        if (n < 0) fail("negative LONG4 length");
        if (n > MAX_LONG_BYTES) fail(`integer of ${n} bytes is too large`, "LIMIT");
        charge(n + 32);
        push(decodeLong(bytes(n)));
        break;
      }
      case 0x47: { // BINFLOAT (big-endian double)
        need(8);
        const v = view.getFloat64(pos, false);
        pos += 8;
        push(v);
        break;
      }
      // ---- strings and bytes
      case 0x58: push(str(u32())); break; // BINUNICODE
      case 0x8c: push(str(u8())); break; // SHORT_BINUNICODE
      case 0x8d: push(str(u64())); break; // BINUNICODE8
      case 0x55: push(str(u8())); break; // SHORT_BINSTRING (Python 2 str; torch decodes as text)
      case 0x54: { // BINSTRING
        need(4);
        const n = view.getInt32(pos, true);
        pos += 4;
        if (n < 0) fail("negative BINSTRING length");
        push(str(n));
        break;
      }
      case 0x43: push(copyBytes(u8())); break; // SHORT_BINBYTES
      case 0x42: push(copyBytes(u32())); break; // BINBYTES
      case 0x8e: push(copyBytes(u64())); break; // BINBYTES8
      case 0x96: push(copyBytes(u64())); break; // BYTEARRAY8
      // ---- containers
      case 0x7d: charge(200); push(new Map()); break; // EMPTY_DICT (V8: ~184 bytes each)
      case 0x5d: charge(40); push([]); break; // EMPTY_LIST
      case 0x29: push(tuple([])); break; // EMPTY_TUPLE
      case 0x8f: // EMPTY_SET
        if (!lenient) fail("sets are only allowed in lenient mode");
        charge(170);
        push(new Set());
        break;
      case 0x90: { // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) fail(`ADDITEMS on a ${describe(s)}`);
        charge(16 * items.length);
        for (const it of items) (s as Set<unknown>).add(it);
        break;
      }
      case 0x91: { // FROZENSET
        if (!lenient) fail("sets are only allowed in lenient mode");
        const items = popMark();
        charge(170 + 16 * items.length);
        push(new Set(items));
        break;
      }
      case 0x64: { // DICT
        const items = popMark();
        if (items.length % 2) fail("DICT with an odd number of items");
        charge(200);
        const m = new Map();
        for (let i = 0; i < items.length; i += 2) setItem(m, items[i], items[i + 1]);
        push(m);
        break;
      }
      case 0x6c: { // LIST
        const items = popMark();
        charge(48);
        push(items);
        break;
      }
      case 0x74: push(tuple(popMark())); break; // TUPLE
      case 0x85: push(tuple([pop()])); break; // TUPLE1
      case 0x86: { // TUPLE2
        const b = pop();
        const a = pop();
        push(tuple([a, b]));
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        push(tuple([a, b, c]));
        break;
      }
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        setItem(top(), k, v);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        if (items.length % 2) fail("SETITEMS with an odd number of items");
        const t = top();
        for (let i = 0; i < items.length; i += 2) setItem(t, items[i], items[i + 1]);
        break;
      }
      case 0x61: { // APPEND
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      // ---- memo
      case 0x71: memoPut(u8()); break; // BINPUT
      case 0x72: memoPut(u32()); break; // LONG_BINPUT
      case 0x94: memoPut(memo.size); break; // MEMOIZE
      case 0x68: memoGet(u8()); break; // BINGET
      case 0x6a: memoGet(u32()); break; // LONG_BINGET
      // ---- the risky ones
      case 0x63: { // GLOBAL
        const module = line();
        const name = line();
        push(resolveGlobal(module, name));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== "string" || typeof name !== "string") fail("STACK_GLOBAL needs two strings");
        push(resolveGlobal(module as string, name as string));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        const f = top();
        if (!isTuple(args)) fail(`REDUCE arguments must be a tuple, got ${describe(args)}`);
        let r: unknown;
        if (f instanceof PickleGlobal) {
          const h = handlerOf(f);
          if (!h.reduce) fail(`${f.fullName} cannot be called`);
          r = h.reduce!(args as readonly unknown[]);
          charge(estimate(r));
        } else if (lenient && f instanceof Placeholder) {
          r = callPlaceholder(f, args as readonly unknown[]);
        } else {
          fail(`REDUCE on a ${describe(f)}`);
        }
        stack[stack.length - 1] = r;
        break;
      }
      case 0x81: { // NEWOBJ
        const args = pop();
        const cls = pop();
        if (!isTuple(args)) fail(`NEWOBJ arguments must be a tuple, got ${describe(args)}`);
        if (cls instanceof PickleGlobal) {
          const h = handlerOf(cls);
          if (!h.newobj) fail(`${cls.fullName} cannot be instantiated`);
          const r = h.newobj!(args as readonly unknown[]);
          charge(estimate(r));
          push(r);
        } else if (lenient && cls instanceof Placeholder) {
          push(callPlaceholder(cls, args as readonly unknown[]));
        } else fail(`NEWOBJ on a ${describe(cls)}`);
        break;
      }
      case 0x92: { // NEWOBJ_EX
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        if (!isTuple(args) || !(kwargs instanceof Map)) fail("NEWOBJ_EX needs a tuple and a dict");
        if (lenient && cls instanceof Placeholder) push(callPlaceholder(cls, args as readonly unknown[], kwargs as Map<unknown, unknown>));
        else fail(`NEWOBJ_EX on a ${describe(cls)}`);
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        const inst = top();
        if (inst instanceof Placeholder && lenient) {
          charge(16);
          inst.state = state;
        } else if (inst instanceof Map) {
          // OrderedDict attributes (a state dict's _metadata): kept aside, not merged into the items.
          if (state !== null) attributes.set(inst, state);
        } else if (lenient && inst !== null && typeof inst === "object") {
          attributes.set(inst, state);
        } else {
          fail(`BUILD on a ${describe(inst)} is not allowed`);
        }
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        if (!opts.persistentLoad) fail("persistent ids are not allowed here");
        push(opts.persistentLoad!(pid));
        break;
      }
      default:
        fail(`unsupported pickle opcode 0x${op.toString(16).padStart(2, "0")}${op >= 0x20 && op < 0x7f ? ` ('${String.fromCharCode(op)}')` : ""}`);
    }
  }
}
