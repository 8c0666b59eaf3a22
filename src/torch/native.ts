// Loads the libtorch addon. The engine must be used from the JavaScript thread that loaded it
// (the main thread or one worker_thread per engine): libtorch keeps grad mode, autocast state
// and RNG streams per OS thread, and every op here runs synchronously on the calling thread.
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { applyOpenMPDefaults } from "./omp-env.js";
import { WinnowError } from "../util/errors.js";

const here = dirname(fileURLToPath(import.meta.url));

/** The engine is not built here: what to install and how to build it (a user's first error from an install without libtorch). */
export class NativeEngineMissingError extends WinnowError {
  constructor(expected: string) {
    super("not_found",
      `the native engine is not built (${expected} is missing).\n` +
        "  In a checkout: npm run build:native   (libtorch is installed by: sudo bash scripts/setup.sh)\n" +
        "  Installed from npm: install libtorch (sudo apt-get install -y libtorch-dev libgloo-dev libopenblas0-pthread build-essential,\n" +
        "  or set LIBTORCH), then: npm rebuild winnow   (winnow/client and winnow/config need no engine)",
      { where: expected });
  }
}

function findAddon(): string {
  if (process.env.WINNOW_NATIVE) return process.env.WINNOW_NATIVE;
  // src/torch/ and dist/torch/ → package root; one more level for a tsc -p tsconfig.json emit (dist/src/torch/).
  const candidates = [join(here, "..", ".."), join(here, "..", "..", "..")].map((root) => join(root, "build", "Release", "winnow_native.node"));
  const found = candidates.find((p) => existsSync(p));
  if (found) return found;
  throw new NativeEngineMissingError(candidates[0]!);
}

/** An opaque native tensor handle (a napi External). */
export type Handle = { readonly __handle: unique symbol };

// The addon's table is mechanical (see native/src/ops.cc); typing every entry adds nothing
// over the typed Tensor methods that wrap them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type NativeAddon = Record<string, (...args: any[]) => any>;

// Before the addon loads libtorch (and libgomp, which reads these once): see omp-env.ts.
applyOpenMPDefaults();

const require = createRequire(import.meta.url);
export const native: NativeAddon = require(findAddon());
