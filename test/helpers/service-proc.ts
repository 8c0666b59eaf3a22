// A server or worker process for the service tests: `serve <json ServeOptions>` prints
// "listening <url>"; `worker <json WorkerOptions>` runs until SIGINT/SIGTERM (Ctrl-C semantics).
import { serve } from "../../src/server/serve.js";
import { runWorker } from "../../src/worker/worker.js";

const [kind, json] = process.argv.slice(2);
const opts = JSON.parse(json ?? "{}");
if (kind === "serve") {
  const s = await serve(opts);
  process.stdout.write(`listening ${s.url}\n`);
  const stop = (): void => void s.close().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
} else if (kind === "worker") {
  const ctl = new AbortController();
  process.on("SIGINT", () => ctl.abort());
  process.on("SIGTERM", () => ctl.abort());
  await runWorker({ ...opts, signal: ctl.signal, log: (l: string) => process.stdout.write(`${l}\n`) });
  process.exit(0);
} else {
  process.stderr.write("usage: service-proc.ts serve|worker <json>\n");
  process.exit(2);
}
