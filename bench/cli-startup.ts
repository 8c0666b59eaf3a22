// CLI start-up: wall time of `winnow --help` and `winnow --version` as processes, the way a shell
// starts them. Compared: the compiled CLI (dist/, what an installed package runs: bin/winnow.mjs
// without src/ next to it; here `node dist/cli/main.js`, and bin/winnow.mjs in this checkout, which
// also checks dist/ is newer than src/), the sources through tsx (what bin/winnow.mjs ran before
// the package was built, and still runs in an unbuilt checkout), and `node -e 0` (Node's own start).
// Builds dist/ first when it is missing or older than src/ (scripts/build-package.mjs). Not a test.
//
//   npx tsx bench/cli-startup.ts [--runs 15]
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const root = resolve(import.meta.dirname, "..");
const runs = Number(process.argv[process.argv.indexOf("--runs") + 1] || 15) || 15;

const newest = (dir: string): number =>
  readdirSync(dir, { withFileTypes: true }).reduce((t, e) => Math.max(t, e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs), statSync(dir).mtimeMs);
const stamp = join(root, "dist", ".build-stamp");
if (!existsSync(stamp) || statSync(stamp).mtimeMs < newest(join(root, "src"))) {
  console.log("building dist/ (scripts/build-package.mjs)…");
  const b = spawnSync(process.execPath, [join(root, "scripts", "build-package.mjs")], { stdio: "inherit", cwd: root });
  if (b.status !== 0) process.exit(1);
}

// The bin as it was before the package build: tsx registered, then the TypeScript CLI.
const tmp = mkdtempSync(join(tmpdir(), "winnow-cli-bench-"));
const tsxApi = import.meta.resolve("tsx/esm/api");
const viaTsx = join(tmp, "winnow-tsx.mjs");
writeFileSync(viaTsx, `import { register } from ${JSON.stringify(tsxApi)};\nregister();\nawait import(${JSON.stringify(pathToFileURL(join(root, "src", "cli", "main.ts")).href)});\n`);

const cases: Array<[string, string[]]> = [
  ["node -e 0 (Node's start alone)", ["-e", "0"]],
  ["compiled: node dist/cli/main.js --help", [join(root, "dist", "cli", "main.js"), "--help"]],
  ["compiled: node dist/cli/main.js --version", [join(root, "dist", "cli", "main.js"), "--version"]],
  ["checkout bin, dist fresh: node bin/winnow.mjs --help", [join(root, "bin", "winnow.mjs"), "--help"]],
  ["sources via tsx (the old bin): --help", [viaTsx, "--help"]],
];

/** Wall seconds, and CPU seconds (user + sys, from /usr/bin/time: less sensitive to other load). */
const time = (args: string[]): [number, number] => {
  const t = performance.now();
  const r = spawnSync("/usr/bin/time", ["-f", "cpu %U %S", process.execPath, ...args], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  const wall = (performance.now() - t) / 1000;
  const m = /cpu ([\d.]+) ([\d.]+)\s*$/.exec(r.stderr);
  if (r.status !== 0 || !m) throw new Error(`node ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return [wall, Number(m[1]) + Number(m[2])];
};

console.log(`node ${process.version}, ${cpus().length} CPUs, load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}, ${runs} runs each (interleaved)`);
const times = new Map<string, Array<[number, number]>>(cases.map(([n]) => [n, []]));
for (const [, args] of cases) time(args); // warm the file cache
for (let i = 0; i < runs; i++) for (const [n, args] of cases) times.get(n)!.push(time(args));
const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log("| command | wall median s | wall min s | CPU (user+sys) median s |\n|---|---|---|---|");
for (const [n, ts] of times) {
  const wall = ts.map((t) => t[0]);
  console.log(`| ${n} | ${med(wall).toFixed(3)} | ${Math.min(...wall).toFixed(3)} | ${med(ts.map((t) => t[1])).toFixed(2)} |`);
}
console.log(`load average after: ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
rmSync(tmp, { recursive: true, force: true });
