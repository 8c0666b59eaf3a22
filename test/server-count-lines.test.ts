// The datapool size route counts an artifact's non-empty lines chunk by chunk (a 256 MB list must not
// become one string on the event loop); it must agree with splitting the whole text.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { countLines } from "../src/server/ui-api.js";

const whole = (t: string): number => t.split(/\r?\n/).filter((l) => l.length > 0).length;

function chunks(t: string, sizes: number[]): Readable {
  const b = Buffer.from(t, "utf8");
  const out: Buffer[] = [];
  for (let at = 0, i = 0; at < b.length; i++) {
    const n = Math.max(1, sizes[i % sizes.length]!);
    out.push(b.subarray(at, at + n));
    at += n;
  }
  return Readable.from(out);
}

test("countLines agrees with split-and-filter on CRLF, blank lines and chunk borders anywhere", async () => {
  const texts = ["", "a", "a\n", "a\r\nb", "\r\n\r\n", "a\n\nb\n\n", "x\r\r\ny\r", "\r", "a\rb\n\r\nc", "é.png\nü b.jpg\r\n"];
  let seed = 7;
  const rnd = (k: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % k);
  for (let i = 0; i < 40; i++) texts.push(Array.from({ length: 60 }, () => ["a", "b", "\r", "\n", "\r\n"][rnd(5)]).join(""));
  for (const t of texts) {
    for (const sizes of [[1], [2, 3], [7], [1 << 16]]) {
      assert.equal(await countLines(chunks(t, sizes)), whole(t), `${JSON.stringify(t)} in chunks of ${sizes}`);
    }
  }
});

test("countLines refuses more than its limit with 413", async () => {
  await assert.rejects(countLines(chunks("a\n".repeat(100), [16]), 50), (e: unknown) => (e as { statusCode?: number }).statusCode === 413);
});
