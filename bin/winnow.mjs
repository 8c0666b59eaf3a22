#!/usr/bin/env node
// The `winnow` command. An installed package runs the compiled CLI (dist/cli/main.js, no transpiler).
// In a checkout (src/ is here) it runs dist/ only when dist/ was built after the newest change
// under src/ (the build writes dist/.build-stamp last); otherwise it runs the TypeScript sources
// through tsx (a devDependency), so the README's commands and the tests need no build step and
// never run stale JavaScript.
import { existsSync, readdirSync, statSync } from "node:fs";

const root = new URL("../", import.meta.url);
const compiled = new URL("dist/cli/main.js", root);
const stamp = new URL("dist/.build-stamp", root);
const src = new URL("src/", root);

/** The newest modification time of any file or folder under `dir` (ms). */
function newest(dir) {
  let t = statSync(dir).mtimeMs;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = new URL(e.isDirectory() ? `${e.name}/` : e.name, dir);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

const checkout = existsSync(src);
const fresh = () => existsSync(stamp) && statSync(stamp).mtimeMs >= newest(src);
if (existsSync(compiled) && (!checkout || fresh())) {
  await import(compiled.href);
} else if (checkout) {
  let tsx;
  try {
    tsx = await import("tsx/esm/api");
  } catch {
    process.stderr.write("winnow: this checkout is not built (dist/ is missing or older than src/) and tsx is not installed:\n" +
      "  run `npm run build`, or `npm install` (with dev dependencies) to run from the sources\n");
    process.exit(1);
  }
  tsx.register();
  await import(new URL("src/cli/main.ts", root).href);
} else {
  process.stderr.write(`winnow: the package is incomplete: ${compiled.pathname} is missing (reinstall winnow)\n`);
  process.exit(1);
}
