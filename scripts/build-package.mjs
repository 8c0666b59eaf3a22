#!/usr/bin/env node
// Builds what the npm package ships (`npm run build`; `npm pack`/`npm publish` run it as prepack):
// dist/ (ESM JavaScript, .d.ts, source maps with their sources inlined: src/ is not shipped) from
// src/ with tsconfig.build.json, then dist/.build-stamp, which bin/winnow.mjs compares with src/
// in a checkout. The web UI (web/dist) is built only when missing (vite; `npm run build:web`
// rebuilds it on purpose).
import { spawnSync } from "node:child_process";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const run = (args, what) => {
  const r = spawnSync(process.execPath, args, { stdio: "inherit", cwd: root });
  if (r.status !== 0) {
    console.error(`winnow: ${what} failed`);
    process.exit(r.status ?? 1);
  }
};

rmSync(join(root, "dist"), { recursive: true, force: true });
run([join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"], "tsc -p tsconfig.build.json");
writeFileSync(join(root, "dist", ".build-stamp"), `${new Date().toISOString()}\n`);
if (!existsSync(join(root, "web", "dist", "index.html"))) {
  run([join(root, "node_modules", "vite", "bin", "vite.js"), "build", "--config", "web/vite.config.ts"], "the web UI build");
}
console.error("winnow: built dist/");
