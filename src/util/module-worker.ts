// Starts a worker_thread that imports an ES module of ours (which then runs its worker side when it
// sees its workerData). The entry is a one-line script importing the module. When that fails because
// the .ts sources run under tsx, whose --import hook registers itself on the main thread only (Node
// 20), tsx's loader is registered in the worker and the import retried (under another URL: the failed
// import is memoised). A failed import is reported as a message { type: "error", error } on parentPort.
import { Worker, type ResourceLimits, type Transferable } from "node:worker_threads";
import { fileURLToPath } from "node:url";

/** The shape of the error message the entry posts when the module cannot be imported. */
export interface WorkerErrorMessage {
  type: "error";
  error: { name: string; message: string; stack?: string };
}

/** A Worker running `moduleUrl` (pass the module's own import.meta.url) with `workerData`. */
export function startModuleWorker(moduleUrl: string, workerData: unknown, transferList: Transferable[] = [], resourceLimits?: ResourceLimits): Worker {
  const load = `import(${JSON.stringify(moduleUrl)})`;
  const tsx = fileURLToPath(moduleUrl).endsWith(".ts") ? JSON.stringify(import.meta.resolve("tsx/esm/api")) : null;
  const boot = tsx
    ? `${load}.catch((e) => { if (e && e.code === "ERR_UNKNOWN_FILE_EXTENSION") return import(${tsx}).then((api) => { api.register(); return import(${JSON.stringify(`${moduleUrl}?tsx`)}); }); throw e; })`
    : load;
  const entry = `${boot}.catch((e) => { require("node:worker_threads").parentPort.postMessage({ type: "error", error: { name: (e && e.name) || "Error", message: String((e && e.message) || e), stack: e && e.stack } }); });`;
  return new Worker(entry, { eval: true, workerData, transferList, resourceLimits });
}
