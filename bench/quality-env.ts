// Imported first by the quality/speed/memory benches: settings that must be in the environment
// before the engine (libtorch, libgomp) is loaded.
//
// OMP_WAIT_POLICY=PASSIVE: this machine is a 2-core VM shared with other jobs; libgomp's default
// spin-waiting makes 2-thread libtorch many times slower whenever another process holds a core
// (measured: a resnet-18 w0.25 SimCLR step at 32 px, batch 128, 6.2 s spinning vs 0.35 s passive).
// The PyTorch side of every bench gets the same setting. Set OMP_WAIT_POLICY yourself to override.
process.env.OMP_WAIT_POLICY ??= "PASSIVE";
export const OMP_WAIT_POLICY = process.env.OMP_WAIT_POLICY;
