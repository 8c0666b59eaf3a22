#!/usr/bin/env node
// Locates the libtorch the addon builds against and prints gyp fragments.
//   node scripts/torch-config.mjs include|libs|defines|libdir|describe
// LIBTORCH=/path: an official libtorch, or a pip torch's package folder (both have include/ and lib/).
// Otherwise, in the order WINNOW_LIBTORCH_SEARCH gives (default "debian,pip"): Debian's libtorch-dev,
// then the torch package of the machine's Python (WINNOW_PYTHON, default python3; asked where the
// package is without importing it). The C++ ABI flag is read from the libc10 that will be linked.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

function fail(msg) {
  process.stderr.write(`\nwinnow: ${msg}\n\n`);
  process.exit(1);
}

const INSTALL_HINT =
  "Install Debian's with:\n    sudo apt-get install -y libtorch-dev libgloo-dev libopenblas0-pthread\n" +
  "  (or run: sudo bash scripts/setup.sh), or point LIBTORCH at a libtorch folder\n" +
  "  (e.g. LIBTORCH=$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__))')).";

function locate() {
  const env = process.env.LIBTORCH;
  if (env) {
    const lib = join(env, "lib");
    const inc = join(env, "include");
    if (!existsSync(join(lib, "libtorch_cpu.so")) || !existsSync(join(inc, "ATen", "ATen.h"))) {
      fail(`LIBTORCH=${env} does not look like a libtorch: expected ${lib}/libtorch_cpu.so and ${inc}/ATen/ATen.h.\n` + INSTALL_HINT);
    }
    return { lib, includes: [inc, join(inc, "torch", "csrc", "api", "include")] };
  }
  const searched = [];
  for (const where of (process.env.WINNOW_LIBTORCH_SEARCH ?? "debian,pip").split(",")) {
    const found = where === "debian" ? debian() : where === "pip" ? pip(searched) : fail(`WINNOW_LIBTORCH_SEARCH: unknown source "${where}" (expected debian and/or pip)`);
    if (found) return found;
    if (where === "debian") searched.push("Debian's libtorch-dev (/usr/lib/*/libtorch_cpu.so, /usr/include/ATen)");
  }
  fail(`no libtorch found (looked for ${searched.join("; ")}). ${INSTALL_HINT}`);
}

function debian() {
  for (const lib of ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"]) {
    if (existsSync(join(lib, "libtorch_cpu.so")) && existsSync("/usr/include/ATen/ATen.h")) {
      return { lib, includes: ["/usr/include", "/usr/include/torch/csrc/api/include"] };
    }
  }
  return null;
}

/** A pip-installed torch (it ships lib/ and include/; Debian's python3-torch has no headers). */
function pip(searched) {
  const python = process.env.WINNOW_PYTHON ?? "python3";
  const code = "import importlib.util, os; s = importlib.util.find_spec('torch'); print(os.path.dirname(s.origin) if s and s.origin else '')";
  const r = spawnSync(python, ["-c", code], { encoding: "utf8", timeout: 30_000 });
  const dir = r.status === 0 ? r.stdout.trim() : "";
  searched.push(dir ? `the torch of ${python} (${dir}: no lib/libtorch_cpu.so with include/ATen/ATen.h)` : `a torch package for ${python}`);
  if (!dir) return null;
  const lib = join(dir, "lib");
  const inc = join(dir, "include");
  if (!existsSync(join(lib, "libtorch_cpu.so")) || !existsSync(join(inc, "ATen", "ATen.h"))) return null;
  return { lib, includes: [inc, join(inc, "torch", "csrc", "api", "include")] };
}

function cxx11Abi(lib) {
  // A libc10 built with the new ABI mangles std::string as std::__cxx11::basic_string.
  const c10 = readFileSync(join(lib, "libc10.so"));
  return c10.includes("St7__cxx11") || c10.includes("NSt7__cxx11") ? 1 : 0;
}

const { lib, includes } = locate();
const cuda = existsSync(join(lib, "libtorch_cuda.so"));
const abi = cxx11Abi(lib);
// Gloo (c10d's CPU backend): libtorch ships ProcessGroupGloo.hpp, which includes Gloo's own headers;
// Debian has those in libgloo-dev. Without them the addon builds with its distributed ops refusing.
const gloo =
  includes.some((i) => existsSync(join(i, "torch", "csrc", "distributed", "c10d", "ProcessGroupGloo.hpp"))) &&
  [...includes, "/usr/include", "/usr/local/include"].some((i) => existsSync(join(i, "gloo", "context.h")));
const what = process.argv[2] ?? "describe";
switch (what) {
  case "include":
    console.log(includes.join(" "));
    break;
  case "libdir":
    console.log(lib);
    break;
  case "defines":
    console.log([`_GLIBCXX_USE_CXX11_ABI=${abi}`, cuda ? "WINNOW_CUDA=1" : "WINNOW_CUDA=0", gloo ? "WINNOW_GLOO=1" : "WINNOW_GLOO=0"].join(" "));
    break;
  case "libs": {
    const libs = [`-L${lib}`, `-Wl,-rpath,${lib}`, "-Wl,--no-as-needed", "-ltorch", "-ltorch_cpu", "-lc10"];
    if (cuda) libs.push("-ltorch_cuda");
    if (cuda && existsSync(join(lib, "libc10_cuda.so"))) libs.push("-lc10_cuda");
    libs.push("-Wl,--as-needed");
    console.log(libs.join(" "));
    break;
  }
  default:
    console.log(JSON.stringify({ lib, includes, cuda, cxx11Abi: abi, gloo }, null, 2));
}
