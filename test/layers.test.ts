// The layer rule between src/ folders (scripts/layers.ts, CONTRIBUTING.md): a lower layer never
// imports a higher one, folders of one layer do not import each other, winnow/client and the web UI
// import nothing of the engine. Static scan of every import in src/ and web/src/.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { check, describe, scanImports, EXCEPTIONS, LAYERS, type Violation } from "../scripts/layers.js";

const root = path.resolve(import.meta.dirname, "..");

/**
 * Violations known when the rule was written, each to be fixed by moving code (not by editing the
 * rule). The test fails when one is fixed, so that its entry is removed here.
 */
const PENDING: ReadonlyArray<{ file: string; target: string; fix: string }> = [
  // (none left: src/pipeline/embed.ts → src/ssl/trainer.ts was fixed by moving readTrainingCheckpoint to src/models)
];

const isPending = (v: Violation): boolean => PENDING.some((p) => p.file === v.file && p.target === v.target);

test("every import in src/ and web/src/ follows the layer rule", () => {
  const bad = check(root).filter((v) => !isPending(v));
  assert.deepEqual(bad.map(describe), [], "layer rule broken (see CONTRIBUTING.md, Layers)");
});

test("each pending violation still exists (remove it from PENDING once fixed)", () => {
  const now = check(root);
  for (const p of PENDING) {
    assert.ok(now.some((v) => v.file === p.file && v.target === p.target), `${p.file} → ${p.target} is fixed: remove it from PENDING in test/layers.test.ts`);
  }
});

test("each allowed exception is still used", () => {
  const edges = scanImports(root);
  for (const x of EXCEPTIONS) {
    assert.ok(edges.some((e) => e.file.startsWith(x.from) && e.target === x.to), `exception ${x.from} → ${x.to} matches no import: remove it`);
  }
});

test("every folder of src/ is in exactly one layer", () => {
  const folders = fs.readdirSync(path.join(root, "src"), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  const listed = LAYERS.flatMap((l) => l.folders);
  for (const f of folders) assert.equal(listed.filter((x) => x === f).length, 1, `src/${f} must be in one layer of scripts/layers.ts`);
});

test("CONTRIBUTING.md's layer table is the one the check uses", () => {
  const rows = fs.readFileSync(path.join(root, "CONTRIBUTING.md"), "utf8").split("\n")
    .map((l) => /^\| (\d+) \| ([^|]+) \| ([^|]+) \|/.exec(l)).filter((m) => m !== null);
  const doc = rows.map((m) => `${m[1]} ${m[2]!.trim()}: ${m[3]!.replace(/ \(.*\)/, "").trim()}`);
  assert.deepEqual(doc, LAYERS.map((l, i) => `${i} ${l.name}: ${l.folders.join(", ")}`));
});

test("only src/torch loads the engine addon; only src/data/video/native.ts the video addon", () => {
  const offenders: string[] = [];
  const videoLoader = path.join("src", "data", "video", "native.ts");
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      const rel = path.relative(root, p);
      if (e.isDirectory()) walk(p);
      else if (/\.ts$/.test(e.name)) {
        const text = fs.readFileSync(p, "utf8");
        const inTorch = p.includes(`${path.sep}src${path.sep}torch${path.sep}`);
        const engine = !inTorch && (/winnow_native/.test(text) || (/\.node["']/.test(text) && rel !== videoLoader));
        const video = /winnow_video/.test(text) && rel !== videoLoader;
        if (engine || video) offenders.push(rel);
      }
    }
  };
  walk(path.join(root, "src"));
  assert.deepEqual(offenders, []);
});

test("the check fails on a tree that breaks the rule, naming file, import and rule", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "winnow-layers-"));
  try {
    const put = (rel: string, text: string): void => {
      fs.mkdirSync(path.dirname(path.join(tmp, rel)), { recursive: true });
      fs.writeFileSync(path.join(tmp, rel), text);
    };
    put("src/torch/index.ts", "// import { x } from \"../cli/main.js\";  (a comment: not an import)\nexport const t = 1;\n");
    put("src/nn/layers.ts", 'import { t } from "../torch/index.js";\nexport const n = t;\nexport async function late() {\n  return import("../run/run.js");\n}\n');
    put("src/select/index.ts", 'export {\n  n,\n} from "../nn/layers.js";\nimport { d } from "../data/index.js";\n');
    put("src/client/index.ts", 'import type { T } from "../torch/index.js";\nimport { r } from "../db/records.js";\n');
    put("src/run/run.ts", 'import { n } from "../nn/layers.js";\n');
    const got = check(tmp).map((v) => `${v.file}:${v.line} ${v.target}`);
    assert.deepEqual(got.sort(), [
      "src/client/index.ts:1 src/torch/index.ts", // type-only still counts: the client stays engine-free
      "src/nn/layers.ts:4 src/run/run.ts", // dynamic import of a higher layer
      "src/select/index.ts:4 src/data/index.ts", // same layer
    ]);
    const msg = check(tmp).map(describe).find((m) => m.startsWith("src/nn/layers.ts"));
    assert.match(msg!, /imports "\.\.\/run\/run\.js": nn \(layer 3, modules\) may not import the higher layer run \(layer 9, run\)/);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
