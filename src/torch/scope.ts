// Deterministic memory management: a scope frees every tensor created inside it that is not
// part of its return value (like tf.tidy). Tensors created outside every scope belong to the
// caller, who disposes them (modules dispose their parameters). GC finalizers are a backstop only.
import type { Tensor } from "./tensor.js";

type Scope = Set<Tensor>;
const stack: Scope[] = [];

/** Called by every Tensor constructor. */
export function track(t: Tensor): Scope | null {
  const s = stack.length ? stack[stack.length - 1] : null;
  if (s) s.add(t);
  return s;
}

function collect(value: unknown, out: Set<Tensor>, seen: Set<unknown>, TensorClass: Function): void {
  if (value === null || typeof value !== "object" || seen.has(value)) return;
  seen.add(value);
  if (value instanceof TensorClass) {
    out.add(value as Tensor);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collect(v, out, seen, TensorClass);
  } else if (value instanceof Map) {
    for (const v of value.values()) collect(v, out, seen, TensorClass);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collect(v, out, seen, TensorClass);
  }
}

let tensorClass: Function | null = null;
export function registerTensorClass(c: Function): void {
  tensorClass = c;
}

/**
 * Runs `fn` and frees every tensor it created, except those reachable from its return value
 * (tensors, arrays, Maps and plain objects are searched), which move to the enclosing scope.
 * `fn` must be synchronous: tensors created by other code during an `await` would be captured,
 * so a Promise result is refused. For async work, open one scope per synchronous step.
 */
export function scope<T>(fn: () => T): T {
  const s: Scope = new Set();
  stack.push(s);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    stack.pop();
    for (const t of s) t.dispose();
    throw e;
  }
  stack.pop();
  if (result instanceof Promise) {
    for (const t of s) t.dispose();
    throw new Error("torch.scope(fn): fn returned a Promise; scopes must be synchronous (open one per synchronous step)");
  }
  const keepSet = new Set<Tensor>();
  collect(result, keepSet, new Set(), tensorClass!);
  const parent = stack.length ? stack[stack.length - 1] : null;
  for (const t of s) {
    if (keepSet.has(t)) {
      t._moveTo(parent);
    } else {
      t.dispose();
    }
  }
  return result;
}

/** Takes a tensor out of every scope: the caller now owns it and must dispose it. */
export function keep<T extends Tensor>(t: T): T {
  t._moveTo(null);
  return t;
}

export function scopeDepth(): number {
  return stack.length;
}
