// Entry point of the `winnow` command (bin/winnow.mjs loads it: compiled from dist/, or through tsx in a checkout).
import { main } from "./index.js";

process.exitCode = await main(process.argv.slice(2));
