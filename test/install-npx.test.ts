// Issue 29: running the CLI the README's way (`npx winnow …`) with an npm cache that has never seen
// the package makes npm "install" the package folder into its cache, which runs the package's
// install script in the source folder. That must never rebuild or delete the built engine, and a
// rebuild that fails must keep the engine built before.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const repo = path.resolve(import.meta.dirname, "..");
const ADDON = path.join("build", "Release", "winnow_native.node");
let copy = "";

const sha = (f: string): string => createHash("sha256").update(fs.readFileSync(f)).digest("hex");

before(() => {
  // A fresh checkout after set-up: the tracked (and new, not ignored) files, the installed
  // node_modules, the built engine.
  copy = fs.mkdtempSync(path.join(os.tmpdir(), "winnow-npx-"));
  const files = spawnSync("git", ["ls-files", "-co", "--exclude-standard", "-z"], { cwd: repo, encoding: "utf8" }).stdout.split("\0").filter(Boolean);
  for (const f of files) {
    const src = path.join(repo, f);
    if (!fs.existsSync(src) || !fs.statSync(src).isFile()) continue;
    fs.mkdirSync(path.dirname(path.join(copy, f)), { recursive: true });
    fs.copyFileSync(src, path.join(copy, f));
  }
  fs.symlinkSync(path.join(repo, "node_modules"), path.join(copy, "node_modules"));
  fs.mkdirSync(path.join(copy, "build", "Release"), { recursive: true });
  fs.copyFileSync(path.join(repo, ADDON), path.join(copy, ADDON));
});
after(() => fs.rmSync(copy, { recursive: true, force: true }));

test("npx winnow with a fresh HOME and an empty npm cache runs the CLI and leaves the engine untouched", () => {
  const before = sha(path.join(copy, ADDON));
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "winnow-npx-home-"));
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, npm_config_cache: path.join(home, ".npm") };
    delete env.WINNOW_TEST;
    const r = spawnSync("npx", ["winnow", "--help"], { cwd: copy, env, encoding: "utf8", timeout: 120_000 });
    assert.equal(r.status, 0, `npx winnow --help exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /Usage: winnow/);
    // npm did install the package into the fresh cache (the path that used to run node-gyp).
    assert.ok(fs.existsSync(path.join(home, ".npm", "_npx")), "npx did not use the fresh cache");
    assert.equal(sha(path.join(copy, ADDON)), before, "the engine was rebuilt or replaced");
    // And the engine is still usable by the CLI.
    const info = spawnSync(process.execPath, ["-e", `console.log(require(${JSON.stringify(path.join(copy, ADDON))}).buildInfo().torchVersion)`], { encoding: "utf8" });
    assert.equal(info.status, 0, info.stderr);
    assert.match(info.stdout, /^\d+\.\d+/);
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});

test("a rebuild that fails keeps the engine built before and says what to install", () => {
  const want = sha(path.join(copy, ADDON));
  // A libtorch that is not one: fails while configuring.
  const bad = spawnSync(process.execPath, ["scripts/build-native.mjs"], { cwd: copy, env: { ...process.env, LIBTORCH: "/nonexistent/libtorch" }, encoding: "utf8", timeout: 120_000 });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /LIBTORCH=\/nonexistent\/libtorch does not look like a libtorch/);
  assert.match(bad.stderr, /apt-get install -y libtorch-dev/);
  assert.match(bad.stderr, /the engine built before is unchanged/);
  assert.equal(sha(path.join(copy, ADDON)), want);
  // A compiler that fails after node-gyp has configured (node-gyp's rebuild deletes its build
  // folder first: that used to delete the engine).
  const cc = spawnSync(process.execPath, ["scripts/build-native.mjs"], { cwd: copy, env: { ...process.env, CXX: "/bin/false", CC: "/bin/false" }, encoding: "utf8", timeout: 300_000 });
  assert.notEqual(cc.status, 0, cc.stdout);
  assert.match(cc.stderr, /the engine built before is unchanged/);
  assert.equal(sha(path.join(copy, ADDON)), want);
  assert.ok(!fs.existsSync(path.join(copy, ".native-build")), "the staging folder was left behind");
  // The install script builds nothing when an engine is there.
  const inst = spawnSync(process.execPath, ["scripts/install-native.mjs"], { cwd: copy, env: { ...process.env, CXX: "/bin/false" }, encoding: "utf8" });
  assert.equal(inst.status, 0, inst.stderr);
  assert.equal(sha(path.join(copy, ADDON)), want);
});
