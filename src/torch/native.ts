// Loads the libtorch addon. The engine must be used from the JavaScript thread that loaded it
// (the main thread or one worker_thread per engine): libtorch keeps grad mode, autocast state
// and RNG streams per OS thread, and every op here runs synchronously on the calling thread.
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { applyOpenMPDefaults } from "./omp-env.js";

const here = dirname(fileURLToPath(import.meta.url));

function findAddon(): string {
  if (process.env.WINNOW_NATIVE) return process.env.WINNOW_NATIVE;
  // src/torch/ or dist/src/torch/ → package root
  for (const root of [join(here, "..", ".."), join(here, "..", "..", "..")]) {
    const p = join(root, "build", "Release", "winnow_native.node");
    if (existsSync(p)) return p;
  }
  throw new Error(
    "winnow: the native engine is not built (build/Release/winnow_native.node is missing).\n" +
      "  In a checkout: npm run build:native   (libtorch is installed by: sudo bash scripts/setup.sh)\n" +
      "  Installed from npm: install libtorch (sudo apt-get install -y libtorch-dev libopenblas0-pthread build-essential,\n" +
      "  or set LIBTORCH), then: npm rebuild winnow   (winnow/client and winnow/config need no engine)",
  );
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
