// Imported first by the quality/speed/memory benches: the OpenMP wait setting must be in the
// environment before the engine (libtorch, libgomp) is loaded, and the PyTorch processes the
// benches spawn inherit it, so both sides always run with the same one (src/torch/omp-env.ts:
// Winnow's default unless OMP_WAIT_POLICY or GOMP_SPINCOUNT is set by the caller).
import { applyOpenMPDefaults } from "../src/torch/omp-env.js";

export const OMP_SETTING = applyOpenMPDefaults();
