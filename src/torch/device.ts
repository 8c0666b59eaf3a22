// Devices as libtorch names them. "cuda" means the current CUDA device, which Winnow always leaves at
// index 0, so comparisons go through normalizeDevice ("cuda" and "cuda:0" are the same device).

/** "cpu", "cuda" or "cuda:N" (also what Tensor.device returns). */
export type Device = string;

export interface ParsedDevice {
  type: "cpu" | "cuda";
  index: number; // -1 for cpu
}

const DEVICE_RE = /^(cpu|cuda)(?::(\d+))?$/;

/** Parses a device string; throws a TypeError naming the value otherwise. */
export function parseDevice(d: string): ParsedDevice {
  const m = DEVICE_RE.exec(d.trim());
  if (!m || (m[1] === "cpu" && m[2] !== undefined && m[2] !== "0")) {
    throw new TypeError(`device: expected "cpu", "cuda" or "cuda:N", got ${JSON.stringify(d)}`);
  }
  return m[1] === "cpu" ? { type: "cpu", index: -1 } : { type: "cuda", index: m[2] === undefined ? 0 : Number(m[2]) };
}

/** The canonical name: "cpu" or "cuda:N". */
export function normalizeDevice(d: string): Device {
  const p = parseDevice(d);
  return p.type === "cpu" ? "cpu" : `cuda:${p.index}`;
}

export const sameDevice = (a: string, b: string): boolean => normalizeDevice(a) === normalizeDevice(b);

export const isCuda = (d: string): boolean => parseDevice(d).type === "cuda";
