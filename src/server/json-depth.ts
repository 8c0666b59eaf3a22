// A cheap scan of raw JSON text for its nesting depth, run before JSON.parse: bodies nested
// ~100k deep parse fine but overflow the stack of whatever walks them next (structuredClone in the
// config check, JSON.stringify when storing), which answered 500.

export const MAX_JSON_DEPTH = 64;

/** The byte offset where `text` first nests deeper than `max` arrays/objects, or -1. */
export function jsonDepthExceeded(text: string, max = MAX_JSON_DEPTH): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return i;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return -1;
}
