// Child program for engine-threads.test.ts: a worker thread loops over engine calls; the main thread
// terminates it mid-call and then exits (argv "terminate"), or exits the process at once with the
// worker still running (argv "exit"). Exit 0 and "terminated"/"exiting" on stdout = survived.
import { isMainThread, parentPort } from "node:worker_threads";
import * as torch from "../../src/torch/index.js";
import { startModuleWorker } from "../../src/util/module-worker.js";

if (isMainThread) {
  const w = startModuleWorker(import.meta.url, { worker: true });
  w.on("message", async (m: unknown) => {
    if (m !== "busy") return;
    await new Promise((r) => setTimeout(r, 200));
    if (process.argv[2] === "exit") {
      console.log("exiting");
      process.exit(0);
    }
    await w.terminate();
    console.log("terminated");
    process.exit(0);
  });
  w.on("error", (e) => {
    console.error(`worker error: ${e.message}`);
    process.exit(3);
  });
} else {
  torch.setNumThreads(1);
  parentPort!.postMessage("busy");
  for (;;) {
    torch.scope(() => {
      const x = torch.randn([32, 32, 64, 64]);
      torch.F.conv2d(x, torch.randn([32, 32, 3, 3]), null, 1, 1).sum();
    });
  }
}
