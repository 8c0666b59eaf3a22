// The layer rule between src/ folders (CONTRIBUTING.md has the table): a folder imports only folders
// of lower layers; folders of one layer do not import each other. test/layers.test.ts runs check()
// in CI. Run this file to print the folder import graph and the violations:
//   npx tsx scripts/layers.ts [--graph]
import * as fs from "node:fs";
import * as path from "node:path";
import ts from "typescript";

/** Bottom to top. A folder may import the folders of any lower layer. */
export const LAYERS: ReadonlyArray<{ name: string; folders: readonly string[] }> = [
  { name: "util", folders: ["util"] },
  { name: "config and stores", folders: ["config", "db", "s3"] },
  { name: "engine binding", folders: ["torch"] },
  { name: "modules", folders: ["nn", "distributed"] },
  { name: "checkpoint files", folders: ["checkpoint"] },
  { name: "models", folders: ["models"] },
  { name: "data primitives", folders: ["transforms", "data", "select"] },
  { name: "predictions", folders: ["predictions"] },
  { name: "jobs", folders: ["ssl", "pipeline", "export"] },
  { name: "run", folders: ["run"] },
  { name: "HTTP client", folders: ["client"] },
  { name: "service", folders: ["worker", "server"] },
  { name: "command line", folders: ["cli"] },
  { name: "package entry", folders: ["index"] },
];

/**
 * Folders held to a list of what they may import, on top of the layer rule. The client is a
 * browser-safe subpath (winnow/client): nothing of the engine, only records, configs and helpers.
 * The web UI (web/src) is bundled for the browser and reads only types and plain modules of src.
 */
export const ONLY: Readonly<Record<string, readonly string[]>> = {
  client: ["config", "db", "util"],
  web: ["client", "config", "db"],
};

/** Single-file edges allowed against the rules, each with the reason it is a design choice. */
export const EXCEPTIONS: ReadonlyArray<{ from: string; to: string; why: string }> = [
  {
    from: "src/client/node-files.ts",
    to: "src/run/embeddings-csv.ts",
    why: "the client's lazily loaded Node half reads embeddings.csv with the one CSV reader; that file imports only util",
  },
  {
    from: "web/src/",
    to: "src/run/live-progress.ts",
    why: "the UI shows live progress with the worker's own parser; the file has no imports so the browser bundle can take it",
  },
  {
    from: "src/config/lightly-config.ts",
    to: "src/transforms/config.ts",
    why: "lightly_config's collate defaults are the transforms' own table (plain data, no imports): one source for both",
  },
];

export interface Edge {
  file: string; // repo-relative, e.g. src/pipeline/embed.ts
  line: number;
  spec: string;
  target: string; // repo-relative resolved file (".ts"), or the bare specifier for packages
  from: string; // folder under src, "index", or "web"
  to: string | null; // folder under src, "index", or null for packages and files outside src
}

const tsFiles = (dir: string): string[] =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === "node_modules" || e.name === "dist" ? [] : tsFiles(p);
    return /\.tsx?$/.test(e.name) && !e.name.endsWith(".d.ts") ? [p] : [];
  });

const folderOf = (rel: string): string | null => {
  const parts = rel.split("/");
  if (parts[0] === "web") return "web";
  if (parts[0] !== "src") return null;
  return parts.length === 2 ? parts[1]!.replace(/\.tsx?$/, "") : parts[1]!;
};

/** Every import of src/**\/*.ts and web/src/**: static, re-exports, `import("…")` and `require("…")`. */
export function scanImports(root: string): Edge[] {
  const files = [path.join(root, "src"), path.join(root, "web", "src")].filter((d) => fs.existsSync(d)).flatMap(tsFiles);
  const edges: Edge[] = [];
  for (const abs of files) {
    const text = fs.readFileSync(abs, "utf8");
    const file = path.relative(root, abs).split(path.sep).join("/");
    // The compiler's own pre-processor: skips comments and strings, sees dynamic imports.
    const info = ts.preProcessFile(text, true, true);
    for (const ref of info.importedFiles) {
      const spec = ref.fileName;
      const line = text.slice(0, ref.pos).split("\n").length;
      const base = { file, line, spec, from: folderOf(file)! };
      if (!spec.startsWith(".")) {
        edges.push({ ...base, target: spec, to: null });
        continue;
      }
      const target = path.relative(root, path.resolve(path.dirname(abs), spec)).split(path.sep).join("/").replace(/\.js$/, ".ts");
      const to = target.startsWith("src/") ? folderOf(target) : null;
      edges.push({ ...base, target, to });
    }
  }
  return edges;
}

const layerOf = (folder: string): number => LAYERS.findIndex((l) => l.folders.includes(folder));

/** The rule an edge breaks, or null. */
export function ruleBroken(e: Edge): string | null {
  if (e.to === null) {
    if (e.spec.startsWith(".") && e.from !== "web") return `src/ imports a file outside src/ (${e.target})`;
    return null;
  }
  if (e.to === e.from) return null;
  if (EXCEPTIONS.some((x) => e.file.startsWith(x.from) && e.target === x.to)) return null;
  const only = ONLY[e.from];
  if (only && !only.includes(e.to)) return `${e.from} may import only ${only.join(", ")} (not ${e.to})`;
  if (e.from === "web") return null;
  const a = layerOf(e.from), b = layerOf(e.to);
  if (a < 0) return `src/${e.from} is in no layer: add it to LAYERS in scripts/layers.ts`;
  if (b < 0) return `src/${e.to} is in no layer: add it to LAYERS in scripts/layers.ts`;
  if (a < b) return `${e.from} (layer ${a}, ${LAYERS[a]!.name}) may not import the higher layer ${e.to} (layer ${b}, ${LAYERS[b]!.name})`;
  if (a === b) return `${e.from} and ${e.to} are one layer (${LAYERS[a]!.name}): neither imports the other`;
  return null;
}

export interface Violation { file: string; line: number; spec: string; target: string; rule: string }

export function check(root: string): Violation[] {
  return scanImports(root).flatMap((e) => {
    const rule = ruleBroken(e);
    return rule ? [{ file: e.file, line: e.line, spec: e.spec, target: e.target, rule }] : [];
  });
}

export const describe = (v: Violation): string => `${v.file}:${v.line} imports "${v.spec}": ${v.rule}`;

function main(): void {
  const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
  if (process.argv.includes("--graph")) {
    const counts = new Map<string, Set<string>>();
    for (const e of scanImports(root)) {
      if (e.to === null || e.to === e.from) continue;
      const k = `${e.from} -> ${e.to}`;
      counts.set(k, (counts.get(k) ?? new Set()).add(e.file));
    }
    for (const [k, files] of [...counts].sort()) console.log(`${k.padEnd(28)} ${[...files].join(", ")}`);
    console.log("");
  }
  const vs = check(root);
  for (const v of vs) console.log(describe(v));
  console.log(vs.length ? `${vs.length} layer violation(s)` : "no layer violations");
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) main();
