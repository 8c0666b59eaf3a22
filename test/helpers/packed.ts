// Packs this checkout with `npm pack` (from a copy: prepack builds dist/ there, not in the
// checkout) and installs the tarball into throwaway consumer projects, offline, with --omit=dev.
//
// Offline: npm's cache holds the dependencies' tarballs (from `npm ci`) but not the registry's
// metadata, so a consumer's install resolves through a package-lock.json built from ours (what a
// consumer's own lockfile holds once it depends on winnow). Two native dependencies are given their
// binaries instead of compiling for minutes: better-sqlite3 through prebuild-install's documented
// local-prebuild folder (a real install downloads the same binary from GitHub), and winnow's engine
// through WINNOW_PREBUILT_NATIVE (a real install compiles it with node-gyp: README, "Use it from your project").
import { spawn, spawnSync, type SpawnSyncReturns } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export const repo = path.resolve(import.meta.dirname, "..", "..");
export const repoPkg = JSON.parse(fs.readFileSync(path.join(repo, "package.json"), "utf8")) as {
  name: string; version: string; dependencies: Record<string, string>; devDependencies: Record<string, string>;
  bin: Record<string, string>; engines: Record<string, string>;
};
export const ENGINE = path.join(repo, "build", "Release", "winnow_native.node");

/** Runs a command; throws with its output when it fails. */
export function sh(cmd: string, args: string[], o: { cwd: string; env?: NodeJS.ProcessEnv; timeout?: number }): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd: o.cwd, env: o.env ?? process.env, encoding: "utf8", timeout: o.timeout ?? 300_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} (in ${o.cwd}) exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** `sh` without blocking: the consumers' installs run side by side (mostly unpacking and waiting on the disk). */
function shAsync(cmd: string, args: string[], o: { cwd: string; env: NodeJS.ProcessEnv; timeout: number }): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: o.cwd, env: o.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (b) => (stdout += String(b)));
    p.stderr.on("data", (b) => (stderr += String(b)));
    const timer = setTimeout(() => p.kill("SIGKILL"), o.timeout);
    p.on("error", reject);
    p.on("close", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve({ stdout, stderr });
      else reject(new Error(`${cmd} ${args.join(" ")} (in ${o.cwd}) exited ${code}:\n${stdout}\n${stderr}`));
    });
  });
}

/** npm without the network: the shared cache, offline, no audit/fund/update calls. */
export function npmEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, npm_config_offline: "true", npm_config_audit: "false", npm_config_fund: "false", npm_config_update_notifier: "false", ...extra };
  delete env.WINNOW_TEST;
  return env;
}

/** Copies what the package is built from into `dir` (web/dist dereferenced: it may be a symlink). */
function copyCheckout(dir: string): void {
  const files = spawnSync("git", ["ls-files", "-co", "--exclude-standard", "-z"], { cwd: repo, encoding: "utf8" }).stdout.split("\0").filter(Boolean);
  for (const f of files) {
    if (/^(samples|test|bench|docs|examples)\//.test(f)) continue; // large and never shipped
    const src = path.join(repo, f);
    if (!fs.existsSync(src) || !fs.statSync(src).isFile()) continue;
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.copyFileSync(src, path.join(dir, f));
  }
  fs.symlinkSync(path.join(repo, "node_modules"), path.join(dir, "node_modules"));
  const web = path.join(repo, "web", "dist");
  if (fs.existsSync(path.join(web, "index.html"))) fs.cpSync(fs.realpathSync(web), path.join(dir, "web", "dist"), { recursive: true, dereference: true });
}

export interface Packed {
  tgz: string;
  files: string[];
  size: number;
  unpackedSize: number;
}

/** `npm pack` of a copy of the checkout into `outDir`. */
export function pack(outDir: string): Packed {
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), "winnow-pack-src-"));
  try {
    copyCheckout(copy);
    // prepack compiles src/ (about 20 s of CPU; minutes on a loaded machine).
    const r = sh("npm", ["pack", "--json", "--pack-destination", outDir], { cwd: copy, env: npmEnv(), timeout: 900_000 });
    // prepack's own output shares stdout with npm's JSON
    const j = JSON.parse(r.stdout.slice(r.stdout.indexOf("[\n"))) as Array<{ filename: string; files: { path: string }[]; size: number; unpackedSize: number }>;
    return { tgz: path.join(outDir, j[0]!.filename), files: j[0]!.files.map((f) => f.path), size: j[0]!.size, unpackedSize: j[0]!.unpackedSize };
  } finally {
    // Must not hide the error above: after a timeout, npm's children may still be writing there.
    try {
      fs.rmSync(copy, { recursive: true, force: true, maxRetries: 3 });
    } catch (e) {
      console.error(`could not remove ${copy}: ${(e as Error).message}`);
    }
  }
}

/** better-sqlite3's binary from our node_modules as a prebuild-install "local prebuild". */
export function sqlitePrebuilds(dir: string): NodeJS.ProcessEnv {
  const mod = path.join(repo, "node_modules", "better-sqlite3");
  const v = (JSON.parse(fs.readFileSync(path.join(mod, "package.json"), "utf8")) as { version: string }).version;
  const name = `better-sqlite3-v${v}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  fs.mkdirSync(dir, { recursive: true });
  sh("tar", ["czf", path.join(dir, name), "-C", mod, "build/Release/better_sqlite3.node"], { cwd: dir });
  // Never the network: the binary host is a closed local port (used only if the local prebuild were missing).
  return { npm_config_better_sqlite3_local_prebuilds: dir, npm_config_better_sqlite3_binary_host: "http://127.0.0.1:9" };
}

/** A consumer project in `dir` depending on the tarball; installed with `npm ci --omit=dev`. */
export function installConsumer(dir: string, tgz: string, env: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string }> {
  fs.mkdirSync(dir, { recursive: true });
  const spec = `file:${path.relative(dir, tgz)}`;
  const lock = JSON.parse(fs.readFileSync(path.join(repo, "package-lock.json"), "utf8")) as { packages: Record<string, unknown> };
  const packages: Record<string, unknown> = {
    "": { name: "consumer", version: "1.0.0", dependencies: { winnow: spec } },
    "node_modules/winnow": {
      version: repoPkg.version, resolved: spec, hasInstallScript: true, license: "MIT",
      dependencies: repoPkg.dependencies, bin: repoPkg.bin, engines: repoPkg.engines,
    },
  };
  for (const [k, v] of Object.entries(lock.packages)) if (k.startsWith("node_modules/")) packages[k] = v;
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "consumer", version: "1.0.0", private: true, type: "module", dependencies: { winnow: spec } }, null, 2));
  fs.writeFileSync(path.join(dir, "package-lock.json"), JSON.stringify({ name: "consumer", version: "1.0.0", lockfileVersion: 3, requires: true, packages }, null, 2));
  return shAsync("npm", ["ci", "--omit=dev", "--foreground-scripts"], { cwd: dir, env: npmEnv(env), timeout: 900_000 });
}
