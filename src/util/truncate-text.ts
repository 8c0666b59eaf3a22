// Run messages and log lines are bounded, but a long one is cut with a visible marker instead of
// being refused: a refused end-of-run message once left its run in UPLOADING_ARTIFACTS for ever.

/** The longest run message and log line kept, in characters (UTF-16 code units). */
export const MAX_TEXT_CHARS = 10_000;

/** `s` unchanged when it fits in `max` characters, else its start and "… [truncated, N characters]". */
export function truncateText(s: string, max = MAX_TEXT_CHARS): string {
  if (s.length <= max) return s;
  const marker = `… [truncated, ${s.length} characters]`;
  let keep = Math.max(0, max - marker.length);
  // Do not cut a surrogate pair in half (a lone surrogate is not valid UTF-8 on the wire).
  const c = s.charCodeAt(keep - 1);
  if (keep > 0 && c >= 0xd800 && c <= 0xdbff) keep--;
  return s.slice(0, keep) + marker;
}
