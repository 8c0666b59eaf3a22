// Issue 28: Winnow as an npm package, tried the way a user outside this repository would. `npm pack`
// → `npm ci --omit=dev` of the tarball into two throwaway projects, offline (test/helpers/packed.ts):
// one where the engine installs (the CLI, `winnow serve`, the engine API), one where it cannot be
// built (LIBTORCH points nowhere): the install still succeeds and winnow/client works there against
// the first project's `winnow serve`; a browser bundler bundles the client; a consumer's TypeScript
// type-checks against the shipped .d.ts.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ENGINE, installConsumer, npmEnv, pack, repo, repoPkg, sh, sqlitePrebuilds, type Packed } from "./helpers/packed.js";

let tmp = "";
let packed: Packed;
let withEngine = ""; // consumer project whose install got the engine
let clientOnly = ""; // consumer project whose engine build failed
let clientOnlyInstall = "";
const servers: ChildProcess[] = [];

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "winnow-package-"));
  packed = pack(tmp);
  const sqlite = sqlitePrebuilds(path.join(tmp, "prebuilds"));
  withEngine = path.join(tmp, "with-engine");
  clientOnly = path.join(tmp, "client-only");
  // Both installs at once (mostly unpacking the same cache).
  const [, r] = await Promise.all([
    installConsumer(withEngine, packed.tgz, { ...sqlite, WINNOW_PREBUILT_NATIVE: ENGINE }),
    installConsumer(clientOnly, packed.tgz, { ...sqlite, LIBTORCH: "/nonexistent/libtorch" }),
  ]);
  clientOnlyInstall = r.stdout + r.stderr;
  // 8 small images for `winnow run` and the worker.
  const imgs = path.join(withEngine, "imgs");
  fs.mkdirSync(imgs);
  const shapes = path.join(repo, "samples", "shapes");
  for (const f of fs.readdirSync(shapes).filter((n) => /^(circle|square)-00[0-3]\.png$/.test(n))) fs.copyFileSync(path.join(shapes, f), path.join(imgs, f));
});
after(() => {
  for (const s of servers) s.kill("SIGKILL");
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** The installed command, as npx finds it (node_modules/.bin/winnow). */
const npx = (cwd: string, args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync("npx", ["--no-install", "winnow", ...args], { cwd, env: npmEnv({ OMP_NUM_THREADS: "1", ...env }), encoding: "utf8", timeout: 180_000 });

test("the tarball holds the compiled package, the UI and the engine's sources; no sources, tests or fixtures", () => {
  const files = new Set(packed.files);
  for (const f of ["bin/winnow.mjs", "dist/index.js", "dist/index.d.ts", "dist/client/index.js", "dist/client/index.d.ts", "dist/cli/main.js",
    "dist/client/api-workflow-client.js.map", "web/dist/index.html", "native/src/addon.cc", "native/video/video.c", "scripts/install-native.mjs", "scripts/build-native.mjs", "scripts/build-video.mjs",
    "scripts/torch-config.mjs", "CHANGELOG.md", "README.md", "package.json"]) {
    assert.ok(files.has(f), `${f} is not in the tarball`);
  }
  const stray = packed.files.filter((f) => /^(src|test|bench|samples|docs|examples|build|node_modules)\//.test(f) || f.endsWith(".ts") && !f.endsWith(".d.ts"));
  assert.deepEqual(stray, []);
  // The README states these (section "Use it from your project"): they must stay roughly true.
  console.log(`package: ${packed.files.length} files, ${(packed.size / 1024).toFixed(0)} kB packed, ${(packed.unpackedSize / 1024).toFixed(0)} kB unpacked`);
  const stated = /`npm pack` of ([\d.]+): ([\d,]+) files, ([\d,]+) kB packed/.exec(fs.readFileSync(path.join(repo, "README.md"), "utf8"));
  assert.ok(stated, "README.md no longer states the package's size (\"`npm pack` of X: N files, K kB packed\")");
  const [statedFiles, kB] = [Number(stated[2]!.replace(/,/g, "")), Number(stated[3]!.replace(/,/g, ""))];
  assert.ok(Math.abs(statedFiles - packed.files.length) <= 0.15 * packed.files.length && Math.abs(kB - packed.size / 1024) <= 0.15 * packed.size / 1024,
    `README.md says ${statedFiles} files, ${kB} kB packed; npm pack gives ${packed.files.length} files, ${(packed.size / 1024).toFixed(0)} kB: update its install section`);
  // Three files per module (.js, .js.map, .d.ts); small files, one idea each, are the style (issue 22).
  assert.ok(packed.files.length < 1000 && packed.size < 2 * 1024 * 1024, `${packed.files.length} files, ${packed.size} bytes`);
  // Source maps carry their sources (src/ is not shipped).
  const map = JSON.parse(fs.readFileSync(path.join(withEngine, "node_modules", "winnow", "dist", "client", "http.js.map"), "utf8")) as { sourcesContent?: string[] };
  assert.match(map.sourcesContent?.[0] ?? "", /export class ApiHttp/);
});

test("npx winnow --version runs the compiled CLI of a production install (no tsx, no TypeScript)", () => {
  const r = npx(withEngine, ["--version"]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), repoPkg.version);
  for (const dev of ["tsx", "typescript", "node-gyp"]) assert.ok(!fs.existsSync(path.join(withEngine, "node_modules", dev)), `${dev} was installed`);
  assert.ok(fs.existsSync(path.join(withEngine, "node_modules", "winnow", "build", "Release", "winnow_native.node")));
});

/** Runs node with `args` in the engine project, recording the packages it loads (an ES module loader
 * hook) and the shared libraries mapped at exit (/proc/self/maps). */
function traced(args: string[], name: string): { status: number | null; stderr: string; packages: string[]; libraries: string[] } {
  const log = path.join(withEngine, `trace-${name}.log`);
  fs.writeFileSync(path.join(withEngine, "trace-hooks.mjs"), [
    'import { appendFileSync } from "node:fs";',
    "let log;",
    "export function initialize(data) { log = data; }",
    "export async function load(url, context, next) { appendFileSync(log, url + \"\\n\"); return next(url, context); }",
  ].join("\n"));
  fs.writeFileSync(path.join(withEngine, "trace.mjs"), [
    'import { register } from "node:module";',
    'import { appendFileSync, readFileSync } from "node:fs";',
    "const log = process.env.TRACE_LOG;",
    'register("./trace-hooks.mjs", import.meta.url, { data: log });',
    'process.on("exit", () => appendFileSync(log, readFileSync("/proc/self/maps", "utf8").split("\\n").map((l) => l.split(/\\s+/)[5] ?? "").filter((f) => f.startsWith("/")).join("\\n") + "\\n"));',
  ].join("\n"));
  fs.rmSync(log, { force: true });
  const r = spawnSync(process.execPath, ["--import", "./trace.mjs", ...args], { cwd: withEngine, encoding: "utf8", env: { ...process.env, TRACE_LOG: log, OMP_NUM_THREADS: "1" } });
  const lines = fs.readFileSync(log, "utf8").split("\n");
  const packages = new Set(lines.map((l) => /node_modules\/((@[^/]+\/)?[^/]+)\//.exec(l)?.[1]).filter((p): p is string => !!p && p !== "winnow"));
  return { status: r.status, stderr: r.stderr, packages: [...packages].sort(), libraries: lines.filter((l) => /\.node$|libtorch|vips/.test(l)) };
}

test("winnow --help and --version load commander and the CLI's own modules only (no engine, fastify, sharp, database)", () => {
  const bin = path.join(withEngine, "node_modules", "winnow", "bin", "winnow.mjs");
  for (const args of [["--help"], ["--version"], ["run", "--help"], ["serve", "--help"], ["worker", "--help"], ["embed", "--help"]]) {
    const t = traced([bin, ...args], args.join("-"));
    assert.equal(t.status, 0, t.stderr);
    assert.deepEqual(t.packages, ["commander"], `winnow ${args.join(" ")}`);
    assert.deepEqual(t.libraries, [], `winnow ${args.join(" ")}`);
  }
  // The tracer sees what the engine loads, so the checks above can fail.
  const engine = traced(["--input-type=module", "-e", 'await import("winnow")'], "engine");
  assert.equal(engine.status, 0, engine.stderr);
  assert.ok(engine.libraries.some((l) => l.endsWith("/winnow_native.node")) && engine.libraries.some((l) => /libtorch_cpu\.so/.test(l)), engine.libraries.join("\n"));
  assert.ok(engine.packages.includes("zod"), engine.packages.join(" "));
});

test("npx winnow run on a small folder completes and writes its selection", () => {
  const imgs = path.join(withEngine, "imgs");
  fs.writeFileSync(path.join(withEngine, "run.yaml"), [
    "worker_config: { enable_training: false }",
    "selection_config: { n_samples: 3 }",
    "lightly_config:",
    "  pre_trained: false", // offline: Lightly's zoo file for this model is not on the machine
    "  model: { name: resnet-9, width: 0.125, num_ftrs: 16, out_dim: 16 }",
    "  loader: { batch_size: 8 }",
    "  collate: { input_size: 32 }",
  ].join("\n"));
  const r = npx(withEngine, ["run", "imgs", "--config", "run.yaml", "--output", "out", "--quiet"], { WINNOW_HOME: path.join(withEngine, "home") });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /COMPLETED: 3 selected/);
  const picked = fs.readFileSync(path.join(withEngine, "out", "filenames", "selected_filenames.txt"), "utf8").trim().split("\n");
  assert.equal(picked.length, 3);
  for (const f of picked) assert.ok(fs.existsSync(path.join(imgs, f)), f);
});

test("import { torch } from \"winnow\" runs a tensor op in a consumer project", () => {
  fs.writeFileSync(path.join(withEngine, "engine.mjs"), [
    'import { torch } from "winnow";',
    "const y = torch.scope(() => torch.tensor([1, 2, 3]).mul(2).sum());",
    "console.log(JSON.stringify({ sum: y.item(), live: torch.liveTensors() }));",
    "y.dispose();",
  ].join("\n"));
  const r = spawnSync(process.execPath, ["engine.mjs"], { cwd: withEngine, encoding: "utf8", env: { ...process.env, OMP_NUM_THREADS: "1" } });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { sum: 12, live: 1 });
});

test("where the engine cannot build, the install succeeds, says what to install, and winnow/client drives a real winnow serve and worker", async () => {
  assert.match(clientOnlyInstall, /LIBTORCH=\/nonexistent\/libtorch does not look like a libtorch/);
  assert.match(clientOnlyInstall, /the native engine \(libtorch\) could not be built/);
  assert.match(clientOnlyInstall, /npm rebuild winnow/);
  assert.ok(!fs.existsSync(path.join(clientOnly, "node_modules", "winnow", "build", "Release", "winnow_native.node")));
  // The engine says it is missing and how to get it, when imported.
  const eng = spawnSync(process.execPath, ["--input-type=module", "-e", 'await import("winnow")'], { cwd: clientOnly, encoding: "utf8" });
  assert.notEqual(eng.status, 0);
  assert.match(eng.stderr, /the native engine is not built[\s\S]*npm rebuild winnow/);

  // `winnow serve` and `winnow worker` from the other install (the UI's assets ship in the package;
  // the worker forks its compiled job script).
  const db = path.join(withEngine, "svc", "winnow.db");
  const tok = npx(withEngine, ["token", "create", "--database", db, "--json"]);
  assert.equal(tok.status, 0, tok.stderr);
  const token = (JSON.parse(tok.stdout) as { token: string }).token;
  const bin = path.join(withEngine, "node_modules", ".bin", "winnow");
  const server = spawn(process.execPath, [bin, "serve", "--database", db, "--storage", path.join(withEngine, "svc", "artifacts"), "--port", "0"], { cwd: withEngine, stdio: ["ignore", "pipe", "pipe"] });
  servers.push(server);
  let serverErr = "";
  server.stderr!.on("data", (b) => (serverErr += String(b)));
  const url = await new Promise<string>((resolve, reject) => {
    server.stdout!.on("data", (b) => {
      const m = /listening on (http:\/\/\S+)/.exec(String(b));
      if (m) resolve(m[1]!);
    });
    server.on("exit", (c) => reject(new Error(`winnow serve exited ${c}: ${serverErr}`)));
  });
  const ui = await fetch(`${url}/ui/`);
  assert.equal(ui.status, 200);
  assert.match(await ui.text(), /<!doctype html>/i);
  const workerLog = path.join(tmp, "worker.log");
  const logFd = fs.openSync(workerLog, "w");
  const worker = spawn(process.execPath, [bin, "worker", "--server", url, "--work-dir", path.join(withEngine, "worker"), "--datasource-root", withEngine, "--shutdown-when-job-finished"],
    { cwd: withEngine, env: { ...process.env, WINNOW_TOKEN: token, OMP_NUM_THREADS: "1" }, stdio: ["ignore", logFd, logFd] });
  servers.push(worker);

  fs.writeFileSync(path.join(clientOnly, "client.mjs"), [
    'import { ApiWorkflowClient, ApiUnauthorizedError } from "winnow/client";',
    "const [url, token] = process.argv.slice(2);",
    "const c = new ApiWorkflowClient({ url, token });",
    'await c.createDataset("from-package", "imgs");',
    "const v = await c.validateComputeWorkerConfig({ workerConfig: { enable_trainig: true }, selectionConfig: { n_samples: 2 } });",
    "let unauthorized = false;",
    'try { await new ApiWorkflowClient({ url, token: "wnw_wrong" }).getDatasets(); } catch (e) { unauthorized = e instanceof ApiUnauthorizedError; }',
    "const sid = await c.scheduleComputeWorkerRun({",
    "  workerConfig: { enable_training: false }, selectionConfig: { n_samples: 2 },",
    '  lightlyConfig: { pre_trained: false, model: { name: "resnet-9", width: 0.125, num_ftrs: 16, out_dim: 16 }, loader: { batch_size: 8 }, collate: { input_size: 32 } },',
    "});",
    "let last;",
    "for await (const info of c.computeWorkerRunInfoGenerator(sid, { pollMs: 500 })) last = info;",
    "const filenames = await c.getFilenames();",
    "console.log(JSON.stringify({ datasets: (await c.getDatasets()).map((d) => d.name), paths: v.issues.map((i) => i.path), unauthorized, state: last.state, filenames: filenames.length }));",
  ].join("\n"));
  const r = await new Promise<{ status: number | null; out: string; err: string }>((resolve) => {
    const p = spawn(process.execPath, ["client.mjs", url, token], { cwd: clientOnly, stdio: ["ignore", "pipe", "pipe"] });
    servers.push(p);
    let out = "";
    let err = "";
    p.stdout!.on("data", (b) => (out += String(b)));
    p.stderr!.on("data", (b) => (err += String(b)));
    const timer = setTimeout(() => p.kill("SIGKILL"), 240_000);
    p.on("exit", (status) => {
      clearTimeout(timer);
      resolve({ status, out, err });
    });
  });
  assert.equal(r.status, 0, `${r.err}\nworker log:\n${fs.readFileSync(workerLog, "utf8")}`);
  assert.deepEqual(JSON.parse(r.out), { datasets: ["from-package"], paths: ["worker_config.enable_trainig"], unauthorized: true, state: "COMPLETED", filenames: 8 },
    fs.readFileSync(workerLog, "utf8"));
  fs.closeSync(logFd);
  server.kill("SIGTERM");
});

test("where the engine is not built, winnow run fails with one message saying what to install", () => {
  fs.writeFileSync(path.join(clientOnly, "run.yaml"), "selection_config: { n_samples: 1 }\nlightly_config: { pre_trained: false }\n");
  fs.mkdirSync(path.join(clientOnly, "imgs"), { recursive: true });
  fs.copyFileSync(path.join(repo, "samples", "shapes", "circle-000.png"), path.join(clientOnly, "imgs", "circle-000.png"));
  const r = npx(clientOnly, ["run", "imgs", "--config", "run.yaml", "--output", "out"], { WINNOW_HOME: path.join(clientOnly, "home") });
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /^winnow: the native engine is not built \(\S+winnow_native\.node is missing\)/);
  assert.match(r.stderr, /apt-get install -y libtorch-dev[\s\S]*npm rebuild winnow/);
  assert.doesNotMatch(r.stderr, /^\s+at /m, "a stack trace was printed");
});

test("a browser bundler (vite) bundles winnow/client; the file-system half stays in a lazy chunk", async () => {
  fs.writeFileSync(path.join(clientOnly, "entry.js"), 'import { ApiWorkflowClient } from "winnow/client";\nglobalThis.client = new ApiWorkflowClient({ url: "http://127.0.0.1:1", token: "t" });\n');
  const { build } = await import("vite");
  const out = await build({
    root: clientOnly, configFile: false, logLevel: "silent",
    build: { outDir: path.join(clientOnly, "bundle"), emptyOutDir: true, minify: false, rollupOptions: { input: path.join(clientOnly, "entry.js") } },
  });
  const chunks = (Array.isArray(out) ? out[0]! : out as { output: unknown[] }).output.filter((o): o is { type: "chunk"; isEntry: boolean; modules: Record<string, unknown>; fileName: string } => (o as { type: string }).type === "chunk");
  const mods = (c: { modules: Record<string, unknown> }) => Object.keys(c.modules).map((m) => m.replace(/^.*node_modules\//, ""));
  const entry = chunks.find((c) => c.isEntry)!;
  const winnowMods = mods(entry).filter((m) => m.startsWith("winnow/"));
  assert.ok(winnowMods.includes("winnow/dist/client/api-workflow-client.js"), winnowMods.join(" "));
  // The client's only imports outside client/: the record types and the error base (no engine, no node: modules).
  for (const m of winnowMods) assert.match(m, /^winnow\/dist\/(client\/(index|api-workflow-client|http|errors)|db\/records|util\/errors)\.js$/);
  assert.ok(!mods(entry).some((m) => m.includes("browser-external")), "node: modules were bundled into the entry chunk");
  const lazy = chunks.filter((c) => !c.isEntry).flatMap(mods);
  assert.ok(lazy.includes("winnow/dist/client/node-files.js"), lazy.join(" "));
});

test("a consumer's TypeScript type-checks against the shipped .d.ts (and wrong calls are errors)", () => {
  const consumer = [
    'import { ApiWorkflowClient, ApiNotFoundError, type RunData } from "winnow/client";',
    'import { parseWorkerConfig, type LightlyConfig } from "winnow/config";',
    'import { torch, buildModel, run } from "winnow";',
    'import * as nn from "winnow/nn";',
    'import * as models from "winnow/models";',
    'import type { Tensor } from "winnow/torch";',
    'const client = new ApiWorkflowClient({ url: "http://127.0.0.1:8470", token: "t" });',
    "const runs: Promise<RunData[]> = client.getComputeWorkerRuns();",
    "// @ts-expect-error priority is one of Lightly's priority names",
    "const bad = client.scheduleComputeWorkerRun({ priority: 3 });",
    "const training: boolean = parseWorkerConfig({ enable_training: true }).enable_training;",
    'const epochs: LightlyConfig["trainer"]["max_epochs"] = 10;',
    "const x: Tensor = torch.zeros([2, 3]);",
    "const shape: number[] = x.shape;",
    "// @ts-expect-error a tensor's shape is a number[]",
    "const notShape: string = x.shape;",
    "const lin = new nn.Linear(3, 4);",
    "void [runs, bad, training, epochs, shape, notShape, lin, models.buildModel, buildModel, run, ApiNotFoundError];",
  ].join("\n");
  fs.writeFileSync(path.join(clientOnly, "consumer.ts"), consumer);
  // A consumer has @types/node of its own; this one borrows ours. skipLibCheck off: the shipped
  // .d.ts files are checked too. The @ts-expect-error lines fail the check if the types were `any`
  // (an unused directive is an error).
  fs.writeFileSync(path.join(clientOnly, "tsconfig.json"), JSON.stringify({
    compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, noEmit: true, skipLibCheck: false, types: ["node"], typeRoots: [path.join(repo, "node_modules", "@types")] },
    files: ["consumer.ts"],
  }));
  const tsc = path.join(repo, "node_modules", "typescript", "bin", "tsc");
  const r = spawnSync(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: clientOnly, encoding: "utf8", timeout: 240_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test("bin/winnow.mjs runs dist/ only when it is newer than src/ in a checkout", () => {
  // A checkout with a dist/ built earlier than an edit under src/: the sources run (tsx), not stale JavaScript.
  const co = fs.mkdtempSync(path.join(tmp, "checkout-"));
  fs.mkdirSync(path.join(co, "bin"));
  fs.copyFileSync(path.join(repo, "bin", "winnow.mjs"), path.join(co, "bin", "winnow.mjs"));
  fs.symlinkSync(path.join(repo, "node_modules"), path.join(co, "node_modules"));
  fs.writeFileSync(path.join(co, "package.json"), JSON.stringify({ type: "module" }));
  fs.mkdirSync(path.join(co, "dist", "cli"), { recursive: true });
  fs.writeFileSync(path.join(co, "dist", "cli", "main.js"), 'console.log("compiled");\n');
  fs.writeFileSync(path.join(co, "dist", ".build-stamp"), "x\n");
  fs.mkdirSync(path.join(co, "src", "cli"), { recursive: true });
  fs.writeFileSync(path.join(co, "src", "cli", "main.ts"), 'const from: string = "sources";\nconsole.log(from);\n');
  const old = new Date(Date.now() - 60_000);
  fs.utimesSync(path.join(co, "dist", ".build-stamp"), old, old);
  const run = () => sh(process.execPath, [path.join(co, "bin", "winnow.mjs")], { cwd: co }).stdout.trim();
  assert.equal(run(), "sources");
  const now = new Date();
  fs.utimesSync(path.join(co, "dist", ".build-stamp"), now, now);
  assert.equal(run(), "compiled");
  // An installed package has no src/: dist/ runs.
  fs.rmSync(path.join(co, "src"), { recursive: true });
  fs.utimesSync(path.join(co, "dist", ".build-stamp"), old, old);
  assert.equal(run(), "compiled");
});
