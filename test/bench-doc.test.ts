// Where bench scripts record their runs (bench/bench-doc.ts): at the top of the history, below its
// marker, newest first; never into docs/benchmarks.md.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { HISTORY_FILE, MARKER, recordRun } from "../bench/bench-doc.js";

test("recordRun inserts each run below the marker, newest first, keeping the rest", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "winnow-bench-doc-"));
  try {
    const file = path.join(dir, "history.md");
    fs.writeFileSync(file, `# History\n\nheader text\n\n${MARKER}\n\n### Old run (2026-01-01)\n\nold table\n`);
    recordRun("### Run A\n\na\n", file);
    recordRun("\n### Run B\n\nb", file);
    const text = fs.readFileSync(file, "utf8");
    const at = (s: string): number => text.indexOf(s);
    assert.ok(at("header text") < at(MARKER) && at(MARKER) < at("### Run B") && at("### Run B") < at("### Run A") && at("### Run A") < at("### Old run"), text);
    assert.ok(text.endsWith("old table\n"));
    fs.writeFileSync(file, "# History without a marker\n");
    assert.throws(() => recordRun("### Run C", file), (e: Error) => e.message.includes(file) && e.message.includes("marker"));
    assert.equal(fs.readFileSync(file, "utf8"), "# History without a marker\n", "nothing written on error");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("docs/benchmarks-history.md has the marker once, and the current page no bench writes into", () => {
  const history = fs.readFileSync(HISTORY_FILE, "utf8");
  assert.equal(history.split(MARKER).length, 2);
  assert.ok(history.startsWith("# Benchmark history\n"));
  const current = fs.readFileSync(path.join(path.dirname(HISTORY_FILE), "benchmarks.md"), "utf8");
  assert.ok(!current.includes(MARKER));
  for (const f of fs.readdirSync(path.join(path.dirname(HISTORY_FILE), "..", "bench")).filter((n) => n.endsWith(".ts"))) {
    const src = fs.readFileSync(path.join(path.dirname(HISTORY_FILE), "..", "bench", f), "utf8");
    assert.ok(!/["'`]benchmarks\.md["'`]/.test(src), `bench/${f} names docs/benchmarks.md as a file to write; record through bench-doc.ts`);
  }
});
