// The Tensor class: PyTorch's names and semantics over the native op table.
// Methods ending in `_` modify the tensor in place and return it (as PyTorch does).
// One idea over 400 lines: the Tensor class's methods, one line each over the op table.
import { native, type Handle } from "./native.js";
import { track, registerTensorClass } from "./scope.js";
import { type DType, dtypeCode, dtypeFromCode, viewAs, type TypedArray, ELEMENT_SIZE } from "./dtype.js";

import type { Device } from "./device.js";

export type { Device };
export type Scalar = number | boolean;
export type TensorOrScalar = Tensor | Scalar;
type Dims = number | number[];

const asList = (d: Dims): number[] => (Array.isArray(d) ? d : [d]);

// Backstop only: a Tensor that nobody disposed is freed when V8 collects its handle, by the
// native External's finalizer (native/src/addon.cc). Deterministic freeing is scope()/dispose().

export class Tensor {
  private _h: Handle | null;
  private _scope: Set<Tensor> | null;

  /** Wraps a native handle; used by the engine itself, not by user code. */
  constructor(h: Handle) {
    this._h = h;
    this._scope = track(this);
    // Only tensors outside every scope are reported to V8 as external memory (see Holder).
    if (this._scope === null) native.reportExternal(h, true);
  }

  /** @internal */
  get h(): Handle {
    const h = this._h;
    if (h === null) throw new Error("Tensor used after dispose()");
    return h;
  }

  get isDisposed(): boolean {
    return this._h === null;
  }

  /** Frees the native tensor now. Idempotent. */
  dispose(): void {
    if (this._h === null) return;
    native.dispose(this._h);
    this._h = null;
    if (this._scope) this._scope.delete(this);
    this._scope = null;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** @internal */
  _moveTo(s: Set<Tensor> | null): void {
    const wasScoped = this._scope !== null;
    if (this._scope) this._scope.delete(this);
    this._scope = s;
    if (s) s.add(this);
    if (this._h !== null && wasScoped !== (s !== null)) native.reportExternal(this._h, s === null);
  }

  // ---- metadata ------------------------------------------------------------------------
  get shape(): number[] {
    return native.shape(this.h);
  }
  size(dim?: number): number[] | number {
    const s = this.shape;
    if (dim === undefined) return s;
    return s[dim < 0 ? s.length + dim : dim];
  }
  stride(): number[] {
    return native.stride(this.h);
  }
  get dtype(): DType {
    return dtypeFromCode(native.dtype(this.h));
  }
  get device(): Device {
    return native.device(this.h);
  }
  get ndim(): number {
    return native.dim(this.h);
  }
  dim(): number {
    return native.dim(this.h);
  }
  numel(): number {
    return native.numel(this.h);
  }
  storageOffset(): number {
    return native.storageOffset(this.h);
  }
  isContiguous(memoryFormat: "contiguous" | "channels_last" = "contiguous"): boolean {
    return native.isContiguous(this.h, memoryFormat === "channels_last");
  }
  elementSize(): number {
    return ELEMENT_SIZE[this.dtype];
  }
  toString(): string {
    return `Tensor(shape=[${this.shape.join(", ")}], dtype=${this.dtype}, device=${this.device}${
      this.requiresGrad ? ", requiresGrad=true" : ""
    })`;
  }

  // ---- data out ------------------------------------------------------------------------
  /** The values as a typed array (copied, contiguous, on the CPU). */
  data(): TypedArray {
    return viewAs(native.toBuffer(this.h), this.dtype);
  }
  /** The values as a flat JavaScript array of numbers (float16/bfloat16 go through float32). */
  toArray(): number[] {
    const d = this.dtype;
    if (d === "float16" || d === "bfloat16") {
      const f = new Tensor(native.toDtype(this.h, dtypeCode("float32")));
      try {
        return Array.from(f.data() as Float32Array);
      } finally {
        f.dispose();
      }
    }
    const arr = this.data();
    if (arr instanceof BigInt64Array) return Array.from(arr, (v) => Number(v));
    return Array.from(arr as ArrayLike<number>);
  }
  item(): number {
    const v = native.item(this.h);
    return typeof v === "boolean" ? (v ? 1 : 0) : v;
  }

  // ---- conversion ----------------------------------------------------------------------
  to(target: DType | Device | { dtype?: DType; device?: Device; nonBlocking?: boolean }): Tensor {
    if (typeof target === "string") {
      if (target in dtypeMap) return new Tensor(native.toDtype(this.h, dtypeCode(target as DType)));
      return new Tensor(native.toDevice(this.h, target, false));
    }
    let t: Tensor = this;
    let made: Tensor | null = null;
    if (target.device !== undefined) {
      made = t = new Tensor(native.toDevice(t.h, target.device, target.nonBlocking ?? false));
    }
    if (target.dtype !== undefined) {
      const next = new Tensor(native.toDtype(t.h, dtypeCode(target.dtype)));
      made?.dispose();
      made = t = next;
    }
    return made ?? new Tensor(native.clone(this.h));
  }
  float(): Tensor {
    return this.to("float32");
  }
  long(): Tensor {
    return this.to("int64");
  }
  cpu(): Tensor {
    return this.to("cpu");
  }
  cuda(): Tensor {
    return this.to("cuda");
  }
  contiguous(memoryFormat: "contiguous" | "channels_last" = "contiguous"): Tensor {
    return new Tensor(native.contiguous(this.h, memoryFormat === "channels_last"));
  }
  clone(): Tensor {
    return new Tensor(native.clone(this.h));
  }
  asStrided(size: number[], stride: number[], storageOffset = 0): Tensor {
    return new Tensor(native.asStrided(this.h, size, stride, storageOffset));
  }

  // ---- autograd ------------------------------------------------------------------------
  get requiresGrad(): boolean {
    return native.requiresGrad(this.h);
  }
  requiresGrad_(flag = true): this {
    native.setRequiresGrad(this.h, flag);
    return this;
  }
  get isLeaf(): boolean {
    return native.isLeaf(this.h);
  }
  /** The accumulated gradient (a new handle on the same values), or null. */
  get grad(): Tensor | null {
    const g = native.grad(this.h);
    return g === null ? null : new Tensor(g);
  }
  set grad(g: Tensor | null) {
    native.setGrad(this.h, g === null ? undefined : g.h);
  }
  retainGrad(): this {
    native.retainGrad(this.h);
    return this;
  }
  backward(gradient?: Tensor, retainGraph?: boolean): void {
    native.backward(this.h, gradient?.h, retainGraph);
  }
  detach(): Tensor {
    return new Tensor(native.detach(this.h));
  }

  // ---- views and joins -----------------------------------------------------------------
  reshape(...shape: number[] | [number[]]): Tensor {
    return new Tensor(native.reshape(this.h, flatArgs(shape)));
  }
  view(...shape: number[] | [number[]]): Tensor {
    return new Tensor(native.view(this.h, flatArgs(shape)));
  }
  permute(...dims: number[] | [number[]]): Tensor {
    return new Tensor(native.permute(this.h, flatArgs(dims)));
  }
  transpose(d0: number, d1: number): Tensor {
    return new Tensor(native.transpose(this.h, d0, d1));
  }
  t(): Tensor {
    return new Tensor(native.t(this.h));
  }
  narrow(dim: number, start: number, length: number): Tensor {
    return new Tensor(native.narrow(this.h, dim, start, length));
  }
  /** x[start:end:step] along `dim` (PyTorch's slicing; negative indices allowed). */
  slice(dim: number, start?: number, end?: number, step = 1): Tensor {
    return new Tensor(native.slice(this.h, dim, start, end, step));
  }
  select(dim: number, index: number): Tensor {
    return new Tensor(native.select(this.h, dim, index));
  }
  indexSelect(dim: number, index: Tensor): Tensor {
    return new Tensor(native.indexSelect(this.h, dim, index.h));
  }
  /** x[index] with an integer or boolean tensor on the first dim. */
  index(index: Tensor): Tensor {
    return new Tensor(native.index(this.h, index.h));
  }
  indexPut_(index: Tensor, values: Tensor): this {
    native.indexPut_(this.h, index.h, values.h);
    return this;
  }
  indexAdd_(dim: number, index: Tensor, source: Tensor): this {
    native.indexAdd_(this.h, dim, index.h, source.h);
    return this;
  }
  gather(dim: number, index: Tensor): Tensor {
    return new Tensor(native.gather(this.h, dim, index.h));
  }
  scatter(dim: number, index: Tensor, src: Tensor): Tensor {
    return new Tensor(native.scatter(this.h, dim, index.h, src.h));
  }
  scatter_(dim: number, index: Tensor, src: Tensor): this {
    native.scatter_(this.h, dim, index.h, src.h);
    return this;
  }
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor {
    return new Tensor(native.scatterAdd(this.h, dim, index.h, src.h));
  }
  maskedSelect(mask: Tensor): Tensor {
    return new Tensor(native.maskedSelect(this.h, mask.h));
  }
  squeeze(dim?: number): Tensor {
    return new Tensor(native.squeeze(this.h, dim));
  }
  unsqueeze(dim: number): Tensor {
    return new Tensor(native.unsqueeze(this.h, dim));
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    return new Tensor(native.flatten(this.h, startDim, endDim));
  }
  expand(...shape: number[] | [number[]]): Tensor {
    return new Tensor(native.expand(this.h, flatArgs(shape)));
  }
  expandAs(other: Tensor): Tensor {
    return this.expand(other.shape);
  }
  repeat(...reps: number[] | [number[]]): Tensor {
    return new Tensor(native.repeat(this.h, flatArgs(reps)));
  }
  split(splitSize: number | number[], dim = 0): Tensor[] {
    const hs: Handle[] = Array.isArray(splitSize)
      ? native.splitWithSizes(this.h, splitSize, dim)
      : native.split(this.h, splitSize, dim);
    return hs.map((h) => new Tensor(h));
  }
  chunk(chunks: number, dim = 0): Tensor[] {
    return (native.chunk(this.h, chunks, dim) as Handle[]).map((h) => new Tensor(h));
  }
  flip(dims: Dims): Tensor {
    return new Tensor(native.flip(this.h, asList(dims)));
  }
  roll(shifts: Dims, dims: Dims): Tensor {
    return new Tensor(native.roll(this.h, asList(shifts), asList(dims)));
  }

  // ---- arithmetic ----------------------------------------------------------------------
  add(other: TensorOrScalar, alpha = 1): Tensor {
    return other instanceof Tensor
      ? new Tensor(native.add(this.h, other.h, alpha))
      : new Tensor(native.addScalar(this.h, alpha === 1 ? other : Number(other) * alpha));
  }
  sub(other: TensorOrScalar, alpha = 1): Tensor {
    return other instanceof Tensor
      ? new Tensor(native.sub(this.h, other.h, alpha))
      : new Tensor(native.subScalar(this.h, alpha === 1 ? other : Number(other) * alpha));
  }
  /** other - this, for a scalar `other`. */
  rsub(other: Scalar): Tensor {
    return new Tensor(native.rsubScalar(this.h, other));
  }
  mul(other: TensorOrScalar): Tensor {
    return other instanceof Tensor ? new Tensor(native.mul(this.h, other.h)) : new Tensor(native.mulScalar(this.h, other));
  }
  div(other: TensorOrScalar): Tensor {
    return other instanceof Tensor ? new Tensor(native.div(this.h, other.h)) : new Tensor(native.divScalar(this.h, other));
  }
  remainder(other: Scalar): Tensor {
    return new Tensor(native.remainderScalar(this.h, other));
  }
  add_(other: TensorOrScalar, alpha = 1): this {
    if (other instanceof Tensor) native.add_(this.h, other.h, alpha);
    else native.addScalar_(this.h, alpha === 1 ? other : Number(other) * alpha);
    return this;
  }
  sub_(other: Tensor, alpha = 1): this {
    native.sub_(this.h, other.h, alpha);
    return this;
  }
  mul_(other: TensorOrScalar): this {
    if (other instanceof Tensor) native.mul_(this.h, other.h);
    else native.mulScalar_(this.h, other);
    return this;
  }
  div_(other: TensorOrScalar): this {
    if (other instanceof Tensor) native.div_(this.h, other.h);
    else native.divScalar_(this.h, other);
    return this;
  }
  addcmul_(t1: Tensor, t2: Tensor, value = 1): this {
    native.addcmul_(this.h, t1.h, t2.h, value);
    return this;
  }
  addcdiv_(t1: Tensor, t2: Tensor, value = 1): this {
    native.addcdiv_(this.h, t1.h, t2.h, value);
    return this;
  }
  lerp_(end: Tensor, weight: number): this {
    native.lerpScalar_(this.h, end.h, weight);
    return this;
  }
  lerp(end: Tensor, weight: Tensor): Tensor {
    return new Tensor(native.lerp(this.h, end.h, weight.h));
  }
  copy_(src: Tensor, nonBlocking = false): this {
    native.copy_(this.h, src.h, nonBlocking);
    return this;
  }
  zero_(): this {
    native.zero_(this.h);
    return this;
  }
  fill_(value: Scalar): this {
    native.fill_(this.h, value);
    return this;
  }
  clamp_(min?: number | null, max?: number | null): this {
    native.clamp_(this.h, min ?? undefined, max ?? undefined);
    return this;
  }
  sqrt_(): this {
    native.sqrt_(this.h);
    return this;
  }
  relu_(): this {
    native.relu_(this.h);
    return this;
  }
  uniform_(from = 0, to = 1): this {
    native.uniform_(this.h, from, to);
    return this;
  }
  normal_(mean = 0, std = 1): this {
    native.normal_(this.h, mean, std);
    return this;
  }
  bernoulli_(p: number): this {
    native.bernoulli_(this.h, p);
    return this;
  }
  /** x = min(x, other), in place. */
  minimum_(other: Tensor): this {
    native.minimum_(this.h, other.h);
    return this;
  }
  indexFill_(dim: number, index: Tensor, value: Scalar): this {
    native.indexFill_(this.h, dim, index.h, value);
    return this;
  }
  /** beta * this + alpha * (mat @ vec), one BLAS call (torch.addmv). */
  addmv(mat: Tensor, vec: Tensor, beta = 1, alpha = 1): Tensor {
    return new Tensor(native.addmv(this.h, mat.h, vec.h, beta, alpha));
  }
  maskedFill_(mask: Tensor, value: Scalar): this {
    native.maskedFill_(this.h, mask.h, value);
    return this;
  }

  // ---- elementwise math ----------------------------------------------------------------
  neg(): Tensor { return new Tensor(native.neg(this.h)); }
  exp(): Tensor { return new Tensor(native.exp(this.h)); }
  log(): Tensor { return new Tensor(native.log(this.h)); }
  log1p(): Tensor { return new Tensor(native.log1p(this.h)); }
  expm1(): Tensor { return new Tensor(native.expm1(this.h)); }
  sqrt(): Tensor { return new Tensor(native.sqrt(this.h)); }
  rsqrt(): Tensor { return new Tensor(native.rsqrt(this.h)); }
  abs(): Tensor { return new Tensor(native.abs(this.h)); }
  sign(): Tensor { return new Tensor(native.sign(this.h)); }
  floor(): Tensor { return new Tensor(native.floor(this.h)); }
  ceil(): Tensor { return new Tensor(native.ceil(this.h)); }
  round(): Tensor { return new Tensor(native.round(this.h)); }
  trunc(): Tensor { return new Tensor(native.trunc(this.h)); }
  frac(): Tensor { return new Tensor(native.frac(this.h)); }
  reciprocal(): Tensor { return new Tensor(native.reciprocal(this.h)); }
  sin(): Tensor { return new Tensor(native.sin(this.h)); }
  cos(): Tensor { return new Tensor(native.cos(this.h)); }
  square(): Tensor { return new Tensor(native.square(this.h)); }
  relu(): Tensor { return new Tensor(native.relu(this.h)); }
  sigmoid(): Tensor { return new Tensor(native.sigmoid(this.h)); }
  tanh(): Tensor { return new Tensor(native.tanh(this.h)); }
  pow(exponent: TensorOrScalar): Tensor {
    return exponent instanceof Tensor ? new Tensor(native.pow(this.h, exponent.h)) : new Tensor(native.powScalar(this.h, exponent));
  }
  clamp(min?: number | Tensor | null, max?: number | Tensor | null): Tensor {
    if (min instanceof Tensor || max instanceof Tensor) {
      return new Tensor(native.clampTensor(this.h, min instanceof Tensor ? min.h : undefined, max instanceof Tensor ? max.h : undefined));
    }
    return new Tensor(native.clamp(this.h, min ?? undefined, max ?? undefined));
  }
  clampMin(min: number): Tensor { return this.clamp(min, null); }
  clampMax(max: number): Tensor { return this.clamp(null, max); }
  atan2(other: Tensor): Tensor { return new Tensor(native.atan2(this.h, other.h)); }
  minimum(other: Tensor): Tensor { return new Tensor(native.minimum(this.h, other.h)); }
  maximum(other: Tensor): Tensor { return new Tensor(native.maximum(this.h, other.h)); }

  // ---- comparisons ---------------------------------------------------------------------
  eq(o: TensorOrScalar): Tensor { return cmp(this, o, "eq"); }
  ne(o: TensorOrScalar): Tensor { return cmp(this, o, "ne"); }
  lt(o: TensorOrScalar): Tensor { return cmp(this, o, "lt"); }
  le(o: TensorOrScalar): Tensor { return cmp(this, o, "le"); }
  gt(o: TensorOrScalar): Tensor { return cmp(this, o, "gt"); }
  ge(o: TensorOrScalar): Tensor { return cmp(this, o, "ge"); }
  logicalAnd(o: Tensor): Tensor { return new Tensor(native.logicalAnd(this.h, o.h)); }
  logicalOr(o: Tensor): Tensor { return new Tensor(native.logicalOr(this.h, o.h)); }
  logicalNot(): Tensor { return new Tensor(native.logicalNot(this.h)); }
  isnan(): Tensor { return new Tensor(native.isnan(this.h)); }
  isfinite(): Tensor { return new Tensor(native.isfinite(this.h)); }
  maskedFill(mask: Tensor, value: Scalar): Tensor { return new Tensor(native.maskedFill(this.h, mask.h, value)); }
  allclose(other: Tensor, rtol = 1e-5, atol = 1e-8): boolean {
    const r = new Tensor(native.allclose(this.h, other.h, rtol, atol));
    try { return r.item() === 1; } finally { r.dispose(); }
  }

  // ---- reductions ----------------------------------------------------------------------
  sum(dim?: Dims, keepdim = false, opts: { dtype?: DType } = {}): Tensor {
    const dt = opts.dtype ? dtypeCode(opts.dtype) : undefined;
    return dim === undefined ? new Tensor(native.sumAll(this.h, dt)) : new Tensor(native.sum(this.h, asList(dim), keepdim, dt));
  }
  mean(dim?: Dims, keepdim = false): Tensor {
    return dim === undefined ? new Tensor(native.meanAll(this.h)) : new Tensor(native.mean(this.h, asList(dim), keepdim));
  }
  /** Standard deviation; `unbiased` (Bessel's correction) as PyTorch's default. */
  std(dim?: Dims, unbiased = true, keepdim = false): Tensor {
    if (dim === undefined) return new Tensor(native.stdAll(this.h, unbiased));
    return new Tensor(native.std(this.h, asList(dim), unbiased, keepdim));
  }
  var(dim?: Dims, unbiased = true, keepdim = false): Tensor {
    if (dim === undefined) return new Tensor(native.varAll(this.h, unbiased));
    return new Tensor(native.var(this.h, asList(dim), unbiased, keepdim));
  }
  prod(): Tensor { return new Tensor(native.prodAll(this.h)); }
  /** max() of all elements, or max(dim) → [values, indices]. */
  max(): Tensor;
  max(dim: number, keepdim?: boolean): [Tensor, Tensor];
  max(dim?: number, keepdim = false): Tensor | [Tensor, Tensor] {
    if (dim === undefined) return new Tensor(native.maxAll(this.h));
    const [v, i] = native.maxDim(this.h, dim, keepdim) as [Handle, Handle];
    return [new Tensor(v), new Tensor(i)];
  }
  min(): Tensor;
  min(dim: number, keepdim?: boolean): [Tensor, Tensor];
  min(dim?: number, keepdim = false): Tensor | [Tensor, Tensor] {
    if (dim === undefined) return new Tensor(native.minAll(this.h));
    const [v, i] = native.minDim(this.h, dim, keepdim) as [Handle, Handle];
    return [new Tensor(v), new Tensor(i)];
  }
  amax(dim: Dims, keepdim = false): Tensor { return new Tensor(native.amax(this.h, asList(dim), keepdim)); }
  amin(dim: Dims, keepdim = false): Tensor { return new Tensor(native.amin(this.h, asList(dim), keepdim)); }
  argmax(dim?: number, keepdim = false): Tensor { return new Tensor(native.argmax(this.h, dim, keepdim)); }
  argmin(dim?: number, keepdim = false): Tensor { return new Tensor(native.argmin(this.h, dim, keepdim)); }
  logsumexp(dim: Dims, keepdim = false): Tensor { return new Tensor(native.logsumexp(this.h, asList(dim), keepdim)); }
  /** Vector p-norm over `dim` (all elements when omitted), as torch.linalg.vector_norm. */
  norm(p = 2, dim?: Dims, keepdim = false): Tensor {
    return dim === undefined
      ? new Tensor(native.vectorNormAll(this.h, p))
      : new Tensor(native.vectorNorm(this.h, p, asList(dim), keepdim));
  }
  cumsum(dim: number): Tensor { return new Tensor(native.cumsum(this.h, dim)); }
  all(dim?: number, keepdim = false): Tensor {
    return dim === undefined ? new Tensor(native.allAll(this.h)) : new Tensor(native.all(this.h, dim, keepdim));
  }
  any(dim?: number, keepdim = false): Tensor {
    return dim === undefined ? new Tensor(native.anyAll(this.h)) : new Tensor(native.any(this.h, dim, keepdim));
  }
  topk(k: number, dim = -1, largest = true, sorted = true): [Tensor, Tensor] {
    const [v, i] = native.topk(this.h, k, dim, largest, sorted) as [Handle, Handle];
    return [new Tensor(v), new Tensor(i)];
  }
  sort(dim = -1, descending = false): [Tensor, Tensor] {
    const [v, i] = native.sort(this.h, dim, descending) as [Handle, Handle];
    return [new Tensor(v), new Tensor(i)];
  }
  argsort(dim = -1, descending = false): Tensor { return new Tensor(native.argsort(this.h, dim, descending)); }
  bincount(weights?: Tensor, minlength = 0): Tensor { return new Tensor(native.bincount(this.h, weights?.h, minlength)); }
  countNonzero(): Tensor { return new Tensor(native.countNonzero(this.h)); }
  nonzero(): Tensor { return new Tensor(native.nonzero(this.h)); }

  // ---- linear algebra ------------------------------------------------------------------
  matmul(o: Tensor): Tensor { return new Tensor(native.matmul(this.h, o.h)); }
  mm(o: Tensor): Tensor { return new Tensor(native.mm(this.h, o.h)); }
  bmm(o: Tensor): Tensor { return new Tensor(native.bmm(this.h, o.h)); }
  dot(o: Tensor): Tensor { return new Tensor(native.dot(this.h, o.h)); }
  outer(o: Tensor): Tensor { return new Tensor(native.outer(this.h, o.h)); }

  // ---- nn conveniences -----------------------------------------------------------------
  softmax(dim: number): Tensor { return new Tensor(native.softmax(this.h, dim)); }
  logSoftmax(dim: number): Tensor { return new Tensor(native.logSoftmax(this.h, dim)); }
}

const dtypeMap: Record<string, true> = {
  uint8: true, int8: true, int16: true, int32: true, int64: true, float16: true, float32: true, float64: true, bool: true, bfloat16: true,
};

function flatArgs(a: number[] | [number[]]): number[] {
  return Array.isArray(a[0]) ? (a[0] as number[]) : (a as number[]);
}

function cmp(t: Tensor, o: TensorOrScalar, op: "eq" | "ne" | "lt" | "le" | "gt" | "ge"): Tensor {
  return o instanceof Tensor ? new Tensor(native[op](t.h, o.h)) : new Tensor(native[`${op}Scalar`](t.h, o));
}

registerTensorClass(Tensor);
