// Protocol-2 pickle emitter limited to the opcodes torch 1.13's weights_only unpickler understands
// (no BINFLOAT, no SHORT_BINUNICODE, no bytes). Memo behaviour mirrors CPython's pickler (every
// string, non-empty tuple, dict, global and reduce result gets a BINPUT) so our output matches what
// torch.save produces byte for byte.
import { CheckpointError } from "./errors.js";

export class PickleWriter {
  private buf = new Uint8Array(4096);
  private len = 0;
  private memoCount = 0;
  private readonly globals = new Map<string, number>();
  private readonly enc = new TextEncoder();

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }
  byte(b: number): this {
    this.ensure(1);
    this.buf[this.len++] = b;
    return this;
  }
  private raw(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  private u32(v: number): void {
    this.ensure(4);
    new DataView(this.buf.buffer).setUint32(this.len, v, true);
    this.len += 4;
  }

  proto(v = 2): this {
    return this.byte(0x80).byte(v);
  }
  /** BINPUT/LONG_BINPUT of the next memo slot; returns the slot. */
  put(): number {
    const i = this.memoCount++;
    if (i < 256) this.byte(0x71).byte(i);
    else {
      this.byte(0x72);
      this.u32(i);
    }
    return i;
  }
  get(i: number): this {
    if (i < 256) this.byte(0x68).byte(i);
    else {
      this.byte(0x6a);
      this.u32(i);
    }
    return this;
  }
  /** GLOBAL, memoized by name like CPython's save_global. */
  global(module: string, name: string): this {
    const k = `${module}\n${name}`;
    const m = this.globals.get(k);
    if (m !== undefined) return this.get(m);
    this.byte(0x63);
    this.raw(this.enc.encode(`${module}\n${name}\n`));
    this.globals.set(k, this.put());
    return this;
  }
  /** BINUNICODE + BINPUT; returns the memo slot so callers can re-reference the same object. */
  str(s: string): number {
    const b = this.enc.encode(s);
    this.byte(0x58);
    this.u32(b.length);
    this.raw(b);
    return this.put();
  }
  int(v: number | bigint): this {
    if (typeof v === "number" && !Number.isSafeInteger(v)) {
      throw new CheckpointError(`cannot pickle ${v}: only integers are allowed (torch 1.13 weights_only cannot read floats)`, "INVALID_ARGUMENT");
    }
    const x = BigInt(v);
    if (x >= 0n && x <= 0xffn) return this.byte(0x4b).byte(Number(x));
    if (x >= 0n && x <= 0xffffn) {
      this.byte(0x4d).byte(Number(x) & 0xff).byte(Number(x) >> 8);
      return this;
    }
    if (x >= -0x80000000n && x <= 0x7fffffffn) {
      this.byte(0x4a);
      this.ensure(4);
      new DataView(this.buf.buffer).setInt32(this.len, Number(x), true);
      this.len += 4;
      return this;
    }
    // LONG1: minimal little-endian two's complement
    const bytes: number[] = [];
    let y = x;
    for (;;) {
      const b = Number(y & 0xffn);
      bytes.push(b);
      y >>= 8n;
      if ((y === 0n && !(b & 0x80)) || (y === -1n && b & 0x80)) break;
    }
    if (bytes.length > 255) throw new CheckpointError("integer too large to pickle", "INVALID_ARGUMENT");
    this.byte(0x8a).byte(bytes.length);
    for (const b of bytes) this.byte(b);
    return this;
  }
  bool(v: boolean): this {
    return this.byte(v ? 0x88 : 0x89);
  }
  none(): this {
    return this.byte(0x4e);
  }
  mark(): this {
    return this.byte(0x28);
  }
  emptyTuple(): this {
    return this.byte(0x29);
  }
  emptyDict(): this {
    return this.byte(0x7d);
  }
  /** Closes a tuple of n already-written items the way CPython does (TUPLEn for n<=3, else MARK..TUPLE). */
  tupleEnd(n: number): this {
    if (n === 0) return this.emptyTuple();
    if (n <= 3) this.byte(0x84 + n);
    else this.byte(0x74);
    this.put();
    return this;
  }
  reduce(): this {
    this.byte(0x52);
    this.put();
    return this;
  }
  persid(): this {
    return this.byte(0x51);
  }
  setitem(): this {
    return this.byte(0x73);
  }
  setitems(): this {
    return this.byte(0x75);
  }
  stop(): this {
    return this.byte(0x2e);
  }
  /** A tuple of ints, exactly as CPython writes it (MARK only for more than 3 items). */
  intTuple(xs: readonly number[]): this {
    if (xs.length > 3) this.mark();
    for (const x of xs) this.int(x);
    return this.tupleEnd(xs.length);
  }
  /**
   * Dict items in CPython's batches of 1000: one item → key value SETITEM, more → MARK ... SETITEMS.
   * `writeItem` emits one key and its value.
   */
  items<T>(entries: readonly T[], writeItem: (e: T) => void): this {
    for (let i = 0; i < entries.length; i += 1000) {
      const batch = entries.slice(i, i + 1000);
      if (batch.length === 1) {
        writeItem(batch[0]!);
        this.setitem();
      } else {
        this.mark();
        for (const e of batch) writeItem(e);
        this.setitems();
      }
    }
    return this;
  }
  bytes(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}
