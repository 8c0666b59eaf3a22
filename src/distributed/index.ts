// Data-parallel foundations over PyTorch's c10d (Gloo): process groups, collectives, replica sync,
// DistributedSampler's sharding. The distributed trainer builds on these (docs/distributed.md).
export { initProcessGroup, liveProcessGroups, ProcessGroup, DistributedError, DEFAULT_TIMEOUT_MS } from "./process-group.js";
export type { InitOptions, GlooDevice, ReduceOp } from "./process-group.js";
export { resolveRendezvous, type Rendezvous, type RendezvousOptions } from "./env.js";
export { broadcastModule, allReduceGradients, buckets, DEFAULT_BUCKET_CAP_MB, type Replica } from "./module-sync.js";
export { shardIndices, seededPermutation, type ShardOptions } from "./sampler.js";
export { broadcastJson } from "./broadcast-json.js";
export { launchRanks, rankEnvironment, describeFailure, freePort, type LaunchOptions, type LaunchResult, type RankExit } from "./launch.js";
export { planRanks, threadsPerRank, DEFAULT_MASTER_PORT, type RankPlan, type RankFlags, type RankPlanInput } from "./rank-plan.js";
export { cudaDeviceCount } from "./gpus.js";
