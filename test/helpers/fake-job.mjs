// A stand-in for the worker's job process (src/worker/job.ts) speaking its IPC: a TRAINING state,
// 50 progress messages 20 ms apart, then a quiet stage (no progress) until the worker asks it to
// abort, when it answers "done" (aborted) and exits. Used by test/worker-job-process.test.ts.
const send = (m) => process.send(m);
let step = 0;
let quietSince = 0;
process.on("message", (m) => {
  if (m?.type !== "abort") return;
  send({ type: "done", ok: false, aborted: true, message: `aborted ${quietSince ? Date.now() - quietSince : -1} ms into the quiet stage`, record: null });
  process.disconnect();
});
send({ type: "state", state: "TRAINING" });
const timer = setInterval(() => {
  step++;
  send({ type: "progress", progress: { stage: "TRAINING", what: "training", fraction: step / 50, step, images_per_second: 1, eta_seconds: null } });
  if (step === 50) {
    clearInterval(timer);
    send({ type: "state", state: "SAMPLING" });
    quietSince = Date.now();
    // Without an abort it would end on its own, much later.
    setTimeout(() => (send({ type: "done", ok: true, aborted: false, message: "", record: null }), process.disconnect()), 20_000).unref();
  }
}, 20);
