#!/usr/bin/env node
// Locates the libtorch the addon builds against and prints gyp fragments.
//   node scripts/torch-config.mjs include|libs|defines|libdir|describe
// LIBTORCH=/path: an official libtorch, or a pip torch's package folder (both have include/ and lib/).
// Default: Debian's libtorch-dev. The C++ ABI flag is read from the libc10 that will be linked.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

function fail(msg) {
  process.stderr.write(`\nwinnow: ${msg}\n\n`);
  process.exit(1);
}

const INSTALL_HINT =
  "Install Debian's with:\n    sudo apt-get install -y libtorch-dev libopenblas0-pthread\n" +
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
  const debLib = "/usr/lib/x86_64-linux-gnu";
  const debArm = "/usr/lib/aarch64-linux-gnu";
  for (const lib of [debLib, debArm]) {
    if (existsSync(join(lib, "libtorch_cpu.so")) && existsSync("/usr/include/ATen/ATen.h")) {
      return { lib, includes: ["/usr/include", "/usr/include/torch/csrc/api/include"] };
    }
  }
  fail(`no libtorch found. ${INSTALL_HINT}`);
}

function cxx11Abi(lib) {
  // A libc10 built with the new ABI mangles std::string as std::__cxx11::basic_string.
  const c10 = readFileSync(join(lib, "libc10.so"));
  return c10.includes("St7__cxx11") || c10.includes("NSt7__cxx11") ? 1 : 0;
}

const { lib, includes } = locate();
const cuda = existsSync(join(lib, "libtorch_cuda.so"));
const abi = cxx11Abi(lib);
const what = process.argv[2] ?? "describe";
switch (what) {
  case "include":
    console.log(includes.join(" "));
    break;
  case "libdir":
    console.log(lib);
    break;
  case "defines":
    console.log([`_GLIBCXX_USE_CXX11_ABI=${abi}`, cuda ? "WINNOW_CUDA=1" : "WINNOW_CUDA=0"].join(" "));
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
    console.log(JSON.stringify({ lib, includes, cuda, cxx11Abi: abi }, null, 2));
}
