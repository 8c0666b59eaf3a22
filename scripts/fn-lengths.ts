// Report of long functions and long files, for keeping "small files, one idea per file" honest.
//   npx tsx scripts/fn-lengths.ts [folder ...] [--max 80] [--file-max 400]    (npm run lint:sizes)
// Prints every function, method, constructor, accessor, function expression and arrow function
// longer than --max lines (first to last line, nested ones counted on their own), and every
// .ts/.tsx file longer than --file-max lines. Report only: always exits 0.
import * as fs from "node:fs";
import * as path from "node:path";
import ts from "typescript";

export interface Long { file: string; line: number; lines: number; name: string }

const option = (argv: string[], name: string, dflt: number): number => {
  const i = argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(argv[i + 1]) : dflt;
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} takes a whole number ≥ 1, got ${argv[i + 1]}`);
  return v;
};

const sourceFiles = (p: string): string[] => {
  if (!fs.statSync(p).isDirectory()) return /\.tsx?$/.test(p) ? [p] : [];
  return fs.readdirSync(p, { withFileTypes: true }).flatMap((e) =>
    e.name === "node_modules" || e.name === "dist" ? [] : sourceFiles(path.join(p, e.name)),
  ).filter((f) => !f.endsWith(".d.ts"));
};

/** A readable name: the declaration's, the variable or property an arrow is assigned to, Class.method. */
function nameOf(node: ts.Node, sf: ts.SourceFile): string {
  const own = (node as ts.FunctionLikeDeclaration).name;
  let name = own ? own.getText(sf) : "";
  if (ts.isConstructorDeclaration(node)) name = "constructor";
  const parent = node.parent;
  if (!name && parent && (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent))) {
    name = parent.name.getText(sf);
  }
  if (!name && parent && ts.isCallExpression(parent)) name = `(callback of ${parent.expression.getText(sf).slice(0, 40)})`;
  const cls = ts.isClassLike(parent) && parent.name ? `${parent.name.getText(sf)}.` : "";
  return cls + (name || "(anonymous)");
}

/** Functions longer than `max` lines in one file's text. */
export function longFunctions(file: string, text: string, max: number): Long[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, file.endsWith(".tsx") ? ts.ScriptKind.TSX : ts.ScriptKind.TS);
  const out: Long[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && (node as ts.FunctionLikeDeclaration).body) {
      const first = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
      const last = sf.getLineAndCharacterOfPosition(node.getEnd()).line + 1;
      if (last - first + 1 > max) out.push({ file, line: first, lines: last - first + 1, name: nameOf(node, sf) });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

function main(argv: string[]): void {
  const max = option(argv, "max", 80);
  const fileMax = option(argv, "file-max", 400);
  const skip = new Set(["--max", "--file-max"].flatMap((o) => (argv.includes(o) ? [argv.indexOf(o), argv.indexOf(o) + 1] : [])));
  const folders = argv.filter((_, i) => !skip.has(i));
  const files = (folders.length ? folders : ["src"]).flatMap(sourceFiles).sort();
  const fns: Long[] = [];
  const big: Array<{ file: string; lines: number }> = [];
  for (const f of files) {
    const text = fs.readFileSync(f, "utf8");
    const n = text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
    if (n > fileMax) big.push({ file: f, lines: n });
    fns.push(...longFunctions(f, text, max));
  }
  console.log(`Functions over ${max} lines (${fns.length}):`);
  for (const x of fns.sort((a, b) => b.lines - a.lines)) console.log(`  ${x.file}:${x.line}  ${x.lines} lines  ${x.name}`);
  console.log(`Files over ${fileMax} lines (${big.length}):`);
  for (const x of big.sort((a, b) => b.lines - a.lines)) console.log(`  ${x.file}  ${x.lines} lines`);
  console.log(`(${files.length} files read)`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) main(process.argv.slice(2));
