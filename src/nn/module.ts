// nn.Module: parameters, buffers and child modules registered by name, in insertion order,
// with PyTorch's state_dict key names and order, train/eval, device moves and a repr.
//
// Ownership: a module owns its parameters and buffers. They are taken out of every memory scope
// when registered (torch.keep) and freed by `dispose()`. Tensors returned by `stateDict()`,
// `parameters()` and friends are the module's own tensors: read or update them, never dispose them.
import * as torch from "../torch/index.js";
import { Tensor, sameDevice, type Device, type DType } from "../torch/index.js";
import { pyRepr } from "./repr.js";
import { WinnowError } from "../util/errors.js";

export type MemoryFormat = "contiguous" | "channels_last";

/** Thrown by `loadStateDict` when keys or shapes do not match. */
export class StateDictError extends WinnowError {
  constructor(
    message: string,
    readonly missingKeys: string[],
    readonly unexpectedKeys: string[],
    readonly shapeMismatches: { key: string; expected: number[]; got: number[] }[],
  ) {
    super("checkpoint", message);
  }
}

export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

const fmtShape = (s: number[]): string => `[${s.join(", ")}]`;

export abstract class Module {
  /** train() / eval() state, as PyTorch's `module.training`. */
  training = true;
  private readonly _parameters = new Map<string, Tensor | null>();
  private readonly _buffers = new Map<string, Tensor | null>();
  private readonly _nonPersistent = new Set<string>();
  private readonly _modules = new Map<string, Module | null>();

  /** The forward computation. Call it directly: `module.forward(x)`. */
  abstract forward(...inputs: Tensor[]): Tensor;

  /** The class name shown by toString() (PyTorch shows the Python class name). */
  get typeName(): string {
    return this.constructor.name;
  }

  /** The text inside the parentheses of this module's repr line (PyTorch's extra_repr). */
  extraRepr(): string {
    return "";
  }

  // ---- registration ----------------------------------------------------------------------
  /**
   * Registers `t` as a parameter: it becomes a leaf that requires grad (unless `requiresGrad`
   * is false), is taken out of every scope, and is owned (disposed) by this module.
   */
  registerParameter(name: string, t: Tensor | null, requiresGrad = true): Tensor | null {
    this.checkName(name, "parameter");
    if (t !== null) {
      torch.keep(t);
      if (t.requiresGrad !== requiresGrad) t.requiresGrad_(requiresGrad);
    }
    this._parameters.set(name, t);
    return t;
  }

  /** Registers a buffer (state that is not a parameter, e.g. BatchNorm's running statistics). */
  registerBuffer(name: string, t: Tensor | null, persistent = true): Tensor | null {
    this.checkName(name, "buffer");
    if (t !== null) torch.keep(t);
    this._buffers.set(name, t);
    if (persistent) this._nonPersistent.delete(name);
    else this._nonPersistent.add(name);
    return t;
  }

  /** Registers a child module under `name` (PyTorch's add_module / attribute assignment). */
  registerModule<M extends Module | null>(name: string, m: M): M {
    this.checkName(name, "module");
    this._modules.set(name, m);
    return m;
  }
  addModule<M extends Module | null>(name: string, m: M): M {
    return this.registerModule(name, m);
  }

  private checkName(name: string, what: string): void {
    if (name === "" || name.includes(".")) throw new Error(`${what} name ${JSON.stringify(name)} must be non-empty and contain no '.'`);
    const taken =
      (what !== "parameter" && this._parameters.has(name)) ||
      (what !== "buffer" && this._buffers.has(name)) ||
      (what !== "module" && this._modules.has(name));
    if (taken) throw new Error(`attribute '${name}' is already registered on ${this.typeName} as something other than a ${what}`);
    if (what === "parameter" && this._parameters.get(name)) this._parameters.get(name)!.dispose();
    if (what === "buffer" && this._buffers.get(name)) this._buffers.get(name)!.dispose();
  }

  /** The parameter registered as `name` on this module (not its children). */
  param(name: string): Tensor | null {
    const p = this._parameters.get(name);
    if (p === undefined) throw new Error(`${this.typeName} has no parameter '${name}'`);
    return p;
  }
  buffer(name: string): Tensor | null {
    const b = this._buffers.get(name);
    if (b === undefined) throw new Error(`${this.typeName} has no buffer '${name}'`);
    return b;
  }
  /** The direct child `name`. */
  child(name: string): Module | null {
    const m = this._modules.get(name);
    if (m === undefined) throw new Error(`${this.typeName} has no child module '${name}'`);
    return m;
  }
  /** A descendant by dotted path, e.g. "backbone.3.0.conv1" (PyTorch's get_submodule). */
  getSubmodule(path: string): Module {
    if (path === "") return this;
    let m: Module = this;
    for (const part of path.split(".")) {
      const next = m._modules.get(part);
      if (!next) throw new Error(`${m.typeName} has no child module '${part}' (looking up '${path}')`);
      m = next;
    }
    return m;
  }

  // ---- traversal ---------------------------------------------------------------------------
  *namedChildren(): Generator<[string, Module]> {
    for (const [n, m] of this._modules) if (m) yield [n, m];
  }
  children(): Module[] {
    return [...this.namedChildren()].map(([, m]) => m);
  }
  /** This module and every descendant, depth first, each once (PyTorch's named_modules). */
  *namedModules(prefix = "", seen = new Set<Module>()): Generator<[string, Module]> {
    if (seen.has(this)) return;
    seen.add(this);
    yield [prefix, this];
    for (const [n, m] of this.namedChildren()) yield* m.namedModules(prefix ? `${prefix}.${n}` : n, seen);
  }
  modules(): Module[] {
    return [...this.namedModules()].map(([, m]) => m);
  }
  /** Parameters with dotted names, in registration order, shared ones once. */
  *namedParameters(prefix = "", recurse = true): Generator<[string, Tensor]> {
    const seen = new Set<Tensor>();
    const mods: Iterable<[string, Module]> = recurse ? this.namedModules(prefix) : [[prefix, this]];
    for (const [mp, m] of mods) {
      for (const [n, p] of m._parameters) {
        if (!p || seen.has(p)) continue;
        seen.add(p);
        yield [mp ? `${mp}.${n}` : n, p];
      }
    }
  }
  parameters(recurse = true): Tensor[] {
    return [...this.namedParameters("", recurse)].map(([, p]) => p);
  }
  *namedBuffers(prefix = "", recurse = true): Generator<[string, Tensor]> {
    const seen = new Set<Tensor>();
    const mods: Iterable<[string, Module]> = recurse ? this.namedModules(prefix) : [[prefix, this]];
    for (const [mp, m] of mods) {
      for (const [n, b] of m._buffers) {
        if (!b || seen.has(b)) continue;
        seen.add(b);
        yield [mp ? `${mp}.${n}` : n, b];
      }
    }
  }
  buffers(recurse = true): Tensor[] {
    return [...this.namedBuffers("", recurse)].map(([, b]) => b);
  }
  /** Calls fn on every descendant then on this module (PyTorch's apply order). */
  apply(fn: (m: Module) => void): this {
    for (const m of this.children()) m.apply(fn);
    fn(this);
    return this;
  }

  // ---- state dict ----------------------------------------------------------------------------
  /**
   * PyTorch's state_dict: for each module, its parameters then its persistent buffers, then its
   * children recursively. The values are the module's own tensors (like keep_vars=True): do not
   * dispose them; clone what must outlive the module.
   */
  stateDict(prefix = "", out = new Map<string, Tensor>()): Map<string, Tensor> {
    for (const [n, p] of this._parameters) if (p) out.set(prefix + n, p);
    for (const [n, b] of this._buffers) if (b && !this._nonPersistent.has(n)) out.set(prefix + n, b);
    for (const [n, m] of this._modules) if (m) m.stateDict(`${prefix}${n}.`, out);
    return out;
  }

  /**
   * Copies `dict`'s values into this module's tensors in place (no grad; dtype converted as
   * copy_ does). Shape mismatches are always errors; with `strict` (the default) missing and
   * unexpected keys are too. The error lists every problem at once.
   */
  loadStateDict(dict: Map<string, Tensor>, opts: { strict?: boolean } = {}): LoadResult {
    const strict = opts.strict ?? true;
    const own = this.stateDict();
    const missingKeys = [...own.keys()].filter((k) => !dict.has(k));
    const unexpectedKeys = [...dict.keys()].filter((k) => !own.has(k));
    const shapeMismatches: { key: string; expected: number[]; got: number[] }[] = [];
    for (const [k, t] of own) {
      const src = dict.get(k);
      if (!src) continue;
      const a = t.shape;
      const b = src.shape;
      if (a.length !== b.length || a.some((v, i) => v !== b[i])) shapeMismatches.push({ key: k, expected: a, got: b });
    }
    const problems: string[] = [];
    if (strict && missingKeys.length) problems.push(`Missing key(s) in state_dict: ${missingKeys.map((k) => `"${k}"`).join(", ")}.`);
    if (strict && unexpectedKeys.length) problems.push(`Unexpected key(s) in state_dict: ${unexpectedKeys.map((k) => `"${k}"`).join(", ")}.`);
    for (const m of shapeMismatches) {
      problems.push(
        `size mismatch for ${m.key}: copying a param with shape ${fmtShape(m.got)} from checkpoint, the shape in current model is ${fmtShape(m.expected)}.`,
      );
    }
    if (problems.length) {
      throw new StateDictError(
        `Error(s) in loading state_dict for ${this.typeName}:\n\t${problems.join("\n\t")}`,
        missingKeys, unexpectedKeys, shapeMismatches,
      );
    }
    torch.noGrad(() => {
      for (const [k, t] of own) {
        const src = dict.get(k);
        if (src) t.copy_(src);
      }
    });
    return { missingKeys, unexpectedKeys };
  }

  // ---- modes, devices, bookkeeping -------------------------------------------------------------
  train(mode = true): this {
    this.training = mode;
    for (const m of this.children()) m.train(mode);
    return this;
  }
  eval(): this {
    return this.train(false);
  }
  requiresGrad_(flag = true): this {
    for (const p of this.parameters()) p.requiresGrad_(flag);
    return this;
  }
  /** Sets every parameter's grad to null (PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): this {
    for (const p of this.parameters()) if (p.requiresGrad) p.grad = null;
    return this;
  }

  /**
   * Moves/casts parameters and buffers: a device, a floating dtype (integer tensors such as
   * num_batches_tracked keep theirs) and/or a memory format (applied to 4-d tensors). The module's
   * tensors are replaced by new ones (requiresGrad kept) and the old ones freed, so build
   * optimizers after calling this.
   */
  to(target: Device | DType | { device?: Device; dtype?: DType; memoryFormat?: MemoryFormat }): this {
    const o = typeof target === "string" ? (isDTypeName(target) ? { dtype: target as DType } : { device: target }) : target;
    if (o.dtype && !torch.isFloating(o.dtype)) throw new Error(`Module.to only accepts floating point dtypes, but got desired dtype=${o.dtype}`);
    const convert = (t: Tensor): Tensor | null => {
      const dtype = o.dtype && torch.isFloating(t.dtype) && t.dtype !== o.dtype ? o.dtype : undefined;
      const device = o.device && !sameDevice(t.device, o.device) ? o.device : undefined;
      const cl = o.memoryFormat !== undefined && t.ndim === 4 && !t.isContiguous(o.memoryFormat);
      if (!dtype && !device && !cl) return null;
      let cur: Tensor = t;
      const made: Tensor[] = [];
      if (device || dtype) {
        cur = t.to({ device, dtype });
        made.push(cur);
      }
      if (cl) {
        cur = cur.contiguous(o.memoryFormat);
        made.push(cur);
      }
      for (const m of made) if (m !== cur) m.dispose();
      return cur;
    };
    torch.noGrad(() => {
      for (const m of this.modules()) {
        for (const [n, p] of m._parameters) {
          if (!p) continue;
          const next = convert(p);
          if (!next) continue;
          torch.keep(next);
          next.requiresGrad_(p.requiresGrad);
          m._parameters.set(n, next);
          p.dispose();
        }
        for (const [n, b] of m._buffers) {
          if (!b) continue;
          const next = convert(b);
          if (!next) continue;
          m._buffers.set(n, torch.keep(next));
          b.dispose();
        }
      }
    });
    return this;
  }

  /** Number of parameter elements (only those that require grad with `trainableOnly`). */
  numParameters(trainableOnly = false): number {
    let n = 0;
    for (const p of this.parameters()) if (!trainableOnly || p.requiresGrad) n += p.numel();
    return n;
  }

  /** Frees every parameter and buffer of this module and its descendants. Idempotent. */
  dispose(): void {
    for (const m of this.modules()) {
      for (const p of m._parameters.values()) p?.dispose();
      for (const b of m._buffers.values()) b?.dispose();
    }
  }
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** PyTorch's repr: `Name(extra)` or, with children, one indented `(name): child` line each. */
  toString(): string {
    const extra = this.extraRepr();
    const lines: string[] = extra ? extra.split("\n") : [];
    for (const [n, m] of this._modules) {
      const body = m ? m.toString() : "None";
      lines.push(`(${n}): ${body.split("\n").join("\n  ")}`);
    }
    let s = `${this.typeName}(`;
    if (lines.length) {
      if (lines.length === 1 && !extra.includes("\n") && this._modules.size === 0) s += extra;
      else s += `\n  ${lines.join("\n  ")}\n`;
    }
    return s + ")";
  }
}

const DTYPE_NAMES = new Set(["uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64", "bool", "bfloat16"]);
const isDTypeName = (s: string): boolean => DTYPE_NAMES.has(s);

export { pyRepr };
