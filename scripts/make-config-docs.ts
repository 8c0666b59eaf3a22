// Writes docs/configuration.md from the config schemas (`npm run docs:config`); `--check` exits 1
// when the committed file differs from what the schemas give.
import * as fs from "node:fs";
import { configurationMarkdown } from "../src/config/docs.js";

const FILE = "docs/configuration.md";
const text = configurationMarkdown();
if (process.argv.includes("--check")) {
  const same = fs.existsSync(FILE) && fs.readFileSync(FILE, "utf8") === text;
  console.log(same ? `${FILE} is up to date` : `${FILE} differs from the schemas: run \`npm run docs:config\``);
  process.exit(same ? 0 : 1);
}
fs.writeFileSync(FILE, text);
console.log(`wrote ${FILE} (${text.split("\n").length} lines)`);
