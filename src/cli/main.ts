// Entry point of the `winnow` command (bin/winnow.mjs loads it through tsx).
import { main } from "./index.js";

process.exitCode = await main(process.argv.slice(2));
