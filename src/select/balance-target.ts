// BALANCE's target share per class (and, last, the share of "no class"): given (TARGET), equal
// (UNIFORM), or the data's own distribution (INPUT).

/** `rows` is n×(C+1) class membership (fractional for detections); `given` the TARGET shares. */
export function balanceTarget(distribution: string | undefined, classes: string[], rows: Float64Array, n: number, given: Record<string, number> | null): Float64Array {
  const C = classes.length;
  const target = new Float64Array(C + 1);
  if (given) classes.forEach((c, k) => (target[k] = given[c]));
  else if (distribution === "UNIFORM") target.fill(C ? 1 / C : 0, 0, C);
  else {
    // INPUT: each class's share among all items (fractional for detections), the data's own distribution.
    for (let j = 0; j < n; j++) for (let k = 0; k < C; k++) target[k] += rows[j * (C + 1) + k];
    const tot = target.reduce((a, b) => a + b, 0);
    if (tot > 0) for (let k = 0; k < C; k++) target[k] /= tot;
  }
  target[C] = Math.max(0, 1 - target.subarray(0, C).reduce((a, b) => a + b, 0));
  return target;
}
