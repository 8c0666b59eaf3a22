// Text for the run folder's files (written with util/atomic.ts's writeFileAtomic).

/** One name per line (Lightly's *_filenames.txt), final newline when not empty. */
export const linesText = (names: readonly string[]): string => (names.length ? `${names.join("\n")}\n` : "");

/** JSON as the run folder holds it: indented, final newline. */
export const jsonText = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;
