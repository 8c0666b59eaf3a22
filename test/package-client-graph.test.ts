// winnow/client must load without the engine and bundle for a browser: the modules it imports
// statically (type-only imports are erased) are the client's own and records.ts, with no node:
// builtin and no package; the file-system side (node-files.ts) is imported lazily, in the methods
// that take paths. winnow/config must not reach the engine either.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";

const src = path.resolve(import.meta.dirname, "..", "src");

/** The static (runtime) imports of a TypeScript file: module specifiers of non-type imports/re-exports. */
function staticImports(file: string): string[] {
  const text = fs.readFileSync(file, "utf8");
  const out: string[] = [];
  const re = /^\s*(import|export)\s+(type\s+)?([^;]*?)\s*from\s*["']([^"']+)["']|^\s*import\s*["']([^"']+)["']/gms;
  for (const m of text.matchAll(re)) {
    if (m[5]) out.push(m[5]);
    else if (!m[2] && !/^\{\s*(type\s+\w+\s*,?\s*)+\}$/.test(m[3]!.trim())) out.push(m[4]!);
  }
  return out;
}

/** Every module reached statically from `entry`: local files (relative to src) and outside specifiers. */
function graph(entry: string): { files: string[]; outside: string[] } {
  const seen = new Set<string>();
  const outside = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const spec of staticImports(file)) {
      if (spec.startsWith(".")) visit(path.resolve(path.dirname(file), spec.replace(/\.js$/, ".ts")));
      else outside.add(spec);
    }
  };
  visit(path.join(src, entry));
  return { files: [...seen].map((f) => path.relative(src, f)).sort(), outside: [...outside].sort() };
}

test("the import scanner sees runtime imports and skips type-only ones", () => {
  // The scanner itself, on files whose imports are known: it must not pass the client vacuously.
  const worker = graph("worker/worker.ts");
  assert.ok(worker.outside.includes("node:child_process"), worker.outside.join(" "));
  assert.ok(worker.files.includes("client/http.ts"));
  const client = staticImports(path.join(src, "client", "api-workflow-client.ts"));
  assert.ok(!client.includes("../config/worker-config.js"), "a type-only import was counted");
  assert.ok(client.includes("./http.js"));
});

test("winnow/client statically imports no node: builtin, no package and nothing of the engine", () => {
  const g = graph("client/index.ts");
  assert.deepEqual(g.outside, [], `the client imports ${g.outside.join(", ")}`);
  // util/errors.ts: the WinnowError base of the client's typed errors (no imports of its own).
  for (const f of g.files) assert.match(f, /^(client\/|db\/records\.ts$|util\/errors\.ts$)/, `the client reaches ${f}`);
  assert.ok(!g.files.includes("client/node-files.ts"), "node-files.ts must be imported lazily");
  // Its lazy half exists and is where the file system is.
  assert.ok(graph("client/node-files.ts").outside.includes("node:fs"));
});

test("winnow/config does not reach the engine", () => {
  const g = graph("config/index.ts");
  // transforms/config.ts holds Lightly's collate defaults (plain data, no imports).
  for (const f of g.files) assert.match(f, /^((config|util)\/|transforms\/config\.ts$)/, `the config reaches ${f}`);
  assert.deepEqual(g.outside.filter((s) => !s.startsWith("node:")), ["yaml", "zod"]);
});
