// str(np.float32(x)) in JavaScript: what Python's csv writer puts in lightly's embeddings.csv
// (lightly writes `list(embedding)` of a float32 numpy row; csv calls str() on each numpy scalar).
//
// numpy (>= 1.14) prints the shortest digit string that reads back as the same float32 (Dragon4,
// "unique" mode), positional when 1e-4 <= |x| < 1e16 (or x is 0), scientific otherwise:
//   1.7640524, 0.978738, 100.0, 123456790.0, 1e-05, 9.9999e-05, 1e+16, 3.4e+38, -0.0, nan, inf.
// Checked against numpy in test/pipeline-embed.test.ts when python3 with numpy is available.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Digits (trailing zeros stripped) and exponent of a toExponential() string. */
function split(s: string): { digits: string; exp: number } {
  const e = s.indexOf("e");
  const digits = s.slice(0, e).replace(".", "").replace(/0+$/, "");
  return { digits: digits || "0", exp: Number(s.slice(e + 1)) };
}

/** |m·10^q − a| as an exact rational's numerator over a common denominator (for comparisons only). */
function exactDistance(a: number, m: bigint, q: number): bigint {
  f32[0] = a;
  const bits = u32[0]!;
  const ef = (bits >>> 23) & 0xff;
  const frac = bits & 0x7fffff;
  const M = BigInt(ef === 0 ? frac : frac | 0x800000);
  const E = ef === 0 ? -149 : ef - 150;
  let A = M;
  let C = m;
  if (E >= 0) A *= 2n ** BigInt(E);
  else C *= 2n ** BigInt(-E);
  if (q >= 0) C *= 10n ** BigInt(q);
  else A *= 10n ** BigInt(-q);
  return C > A ? C - A : A - C;
}

/**
 * The p-digit decimal numpy's Dragon4 would print for `a`, if any p-digit decimal reads back as `a`:
 * among the nearest candidates that round-trip, the closest; an exact tie goes to the even digit.
 */
function pickDigits(a: number, p: number): { digits: string; exp: number } | null {
  const s = a.toExponential(p - 1); // nearest p-digit decimal (ties away from zero)
  const e = s.indexOf("e");
  const mant = Number(s.slice(0, e).replace(".", ""));
  const x = Number(s.slice(e + 1));
  const q = x - p + 1;
  const ok: number[] = [];
  for (const m of [mant, mant - 1, mant + 1]) {
    if (m > 0 && Math.fround(Number(`${m}e${q}`)) === a) ok.push(m);
  }
  if (ok.length === 0) return null;
  let best = ok[0]!;
  if (ok.length > 1) {
    let bestD = exactDistance(a, BigInt(best), q);
    for (const m of ok.slice(1)) {
      const d = exactDistance(a, BigInt(m), q);
      if (d < bestD || (d === bestD && m % 2 === 0)) {
        best = m;
        bestD = d;
      }
    }
  }
  const digits = String(best); // p digits, or p + 1 after a carry (999 + 1)
  return { digits: digits.replace(/0+$/, "") || "0", exp: x + (digits.length - p) };
}

/** Shortest decimal digits (no trailing zeros) and exponent x with |f| = d0.d1d2… × 10^x. */
export function shortestFloat32Digits(f: number): { digits: string; exp: number } {
  const a = Math.abs(f);
  if (!(a > 0) || !Number.isFinite(a) || Math.fround(a) !== a) {
    throw new RangeError(`shortestFloat32Digits: ${f} is not a finite non-zero float32 value`);
  }
  f32[0] = a;
  const powerOfTwo = (u32[0]! & 0x7fffff) === 0;
  if (!powerOfTwo) {
    // Symmetric round-trip interval: the nearest p-digit decimal is the best p-digit candidate, and
    // if p digits round-trip so do p + 1: binary search the smallest p in [1, 9] (9 always works).
    let lo = 1;
    let hi = 9;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (Math.fround(Number(a.toExponential(mid - 1))) === a) hi = mid;
      else lo = mid + 1;
    }
    // An exact tie between two lo-digit decimals (which toExponential breaks away from zero,
    // numpy to the even digit) needs a value whose next digit is a 5: only then look closer.
    const next = a.toExponential(lo);
    if (next[next.indexOf("e") - 1] === "5") return pickDigits(a, lo) ?? split(a.toExponential(lo - 1));
    return split(a.toExponential(lo - 1));
  }
  // A power of two: the interval below is half as wide as above, so the nearest p-digit decimal can
  // miss while its upper neighbour reads back; scan p upwards trying the neighbours too.
  for (let p = 1; p <= 9; p++) {
    const r = pickDigits(a, p);
    if (r) return r;
  }
  return split(a.toExponential(8));
}

/** str(np.float32(x)): the float32 nearest to x, printed as numpy prints it. */
export function formatFloat32(value: number): string {
  const f = Math.fround(value);
  if (Number.isNaN(f)) return "nan";
  if (f === Infinity) return "inf";
  if (f === -Infinity) return "-inf";
  if (f === 0) return Object.is(f, -0) ? "-0.0" : "0.0";
  const sign = f < 0 ? "-" : "";
  const a = Math.abs(f);
  const { digits: d, exp: x } = shortestFloat32Digits(a);
  if (a >= 1e-4 && a < 1e16) {
    if (x < 0) return `${sign}0.${"0".repeat(-x - 1)}${d}`;
    if (x >= d.length - 1) return `${sign}${d}${"0".repeat(x - (d.length - 1))}.0`;
    return `${sign}${d.slice(0, x + 1)}.${d.slice(x + 1)}`;
  }
  const ax = Math.abs(x);
  return `${sign}${d[0]}${d.length > 1 ? `.${d.slice(1)}` : ""}e${x < 0 ? "-" : "+"}${ax < 10 ? "0" : ""}${ax}`;
}
