// The package's install step in a user's project (scripts/install-native.mjs, torch-config.mjs):
// where libtorch is looked for, a prebuilt engine that does not load is refused, and a failed build
// does not fail the install unless WINNOW_REQUIRE_NATIVE=1 asks it to.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const repo = path.resolve(import.meta.dirname, "..");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "winnow-install-script-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const torchConfig = (env: NodeJS.ProcessEnv) =>
  spawnSync(process.execPath, [path.join(repo, "scripts", "torch-config.mjs"), "describe"], { env: { ...process.env, LIBTORCH: "", ...env }, encoding: "utf8" });

test("torch-config finds a pip-style torch package through the machine's Python", () => {
  // Debian's python3-torch ships lib/ and include/ like a pip wheel; the oracle's Python has it.
  const where = spawnSync("/usr/bin/python3", ["-c", "import torch, os; print(os.path.dirname(torch.__file__))"], { encoding: "utf8" }).stdout.trim();
  const r = torchConfig({ WINNOW_LIBTORCH_SEARCH: "pip", WINNOW_PYTHON: "/usr/bin/python3" });
  assert.equal(r.status, 0, r.stderr);
  const d = JSON.parse(r.stdout) as { lib: string; includes: string[] };
  assert.equal(d.lib, path.join(where, "lib"));
  assert.equal(d.includes[0], path.join(where, "include"));
  // No torch for that Python: one message naming what was searched and what to install.
  const none = torchConfig({ WINNOW_LIBTORCH_SEARCH: "pip", WINNOW_PYTHON: "/nonexistent/python3" });
  assert.notEqual(none.status, 0);
  assert.match(none.stderr, /no libtorch found \(looked for a torch package for \/nonexistent\/python3\)/);
  assert.match(none.stderr, /apt-get install -y libtorch-dev/);
  const bad = torchConfig({ WINNOW_LIBTORCH_SEARCH: "conda" });
  assert.match(bad.stderr, /WINNOW_LIBTORCH_SEARCH: unknown source "conda"/);
});

test("the install script refuses a prebuilt engine that does not load and keeps a failed build from failing the install", () => {
  // An installed package's layout: the scripts and the engine's sources, nothing built.
  const pkg = path.join(tmp, "winnow");
  for (const f of ["scripts/install-native.mjs", "scripts/build-native.mjs", "scripts/torch-config.mjs", "native/src/addon.cc"]) {
    fs.mkdirSync(path.dirname(path.join(pkg, f)), { recursive: true });
    fs.copyFileSync(path.join(repo, f), path.join(pkg, f));
  }
  const notAnAddon = path.join(tmp, "winnow_native.node");
  fs.writeFileSync(notAnAddon, "not an addon");
  const env = { ...process.env, LIBTORCH: "/nonexistent/libtorch", WINNOW_PREBUILT_NATIVE: notAnAddon };
  const install = (extra: NodeJS.ProcessEnv = {}) =>
    spawnSync(process.execPath, [path.join(pkg, "scripts", "install-native.mjs")], { cwd: pkg, env: { ...env, ...extra }, encoding: "utf8", timeout: 120_000 });
  const r = install();
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /WINNOW_PREBUILT_NATIVE=.* does not load here .*; building instead/);
  assert.match(r.stderr, /the native engine \(libtorch\) could not be built[\s\S]*winnow\/client and winnow\/config work without it[\s\S]*npm rebuild winnow/);
  assert.ok(!fs.existsSync(path.join(pkg, "build", "Release", "winnow_native.node")));
  const strict = install({ WINNOW_REQUIRE_NATIVE: "1" });
  assert.notEqual(strict.status, 0);
  // A prebuilt engine that loads here is installed as is (no build).
  const ok = install({ WINNOW_PREBUILT_NATIVE: path.join(repo, "build", "Release", "winnow_native.node") });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /installed the prebuilt engine .* \(libtorch \d+\.\d+/);
  assert.equal(fs.readFileSync(path.join(pkg, "build", "Release", "winnow_native.node")).length, fs.statSync(path.join(repo, "build", "Release", "winnow_native.node")).size);
});
