// scripts/fn-lengths.ts (npm run lint:sizes): which functions it counts and how it names them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { longFunctions } from "../scripts/fn-lengths.js";

const body = (n: number): string => Array.from({ length: n }, (_, i) => `  const v${i} = ${i};`).join("\n");

test("reports functions, methods and arrows over the limit with file:line, length and a name", () => {
  const text = [
    "export function short() {", body(2), "}", // lines 1-4
    "export const arrow = (x: number) => {", body(5), "  return x;", "};", // lines 5-12: 8 lines
    "class Box {", "  method(): void {", body(6), "  }", "}", // method: lines 14-21, 8 lines
    "items.map((x) => {", body(6), "});", // callback: lines 23-30, 8 lines
  ].join("\n");
  const got = longFunctions("a.ts", text, 7).map((f) => `${f.line}:${f.lines}:${f.name}`);
  assert.deepEqual(got, ["5:8:arrow", "14:8:Box.method", "23:8:(callback of items.map)"]);
  assert.deepEqual(longFunctions("a.ts", text, 8), [], "a function of exactly --max lines is not reported");
});
