// `winnow run` with what users bring: a checkpoint made by PyTorch/lightly (by path and over HTTP,
// with the HTTP failures users meet), a custom embeddings CSV, and inputs that must fail the run.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import type { AddressInfo } from "node:net";
import * as torch from "../src/torch/index.js";
import { run, RunError, readRunRecord } from "../src/run/index.js";
import { RunConfigError } from "../src/config/run-config.js";
import { tempDir } from "./helpers/data-images.js";
import { privateHome, tinyFolder, tinyConfig, lines } from "./helpers/run-setup.js";

const FIXTURE = path.resolve("../shared/fixtures/lightly/resnet-18-w0.25-f16-o64-headPlain.ckpt");
const FIXTURE_MODEL = { name: "resnet-18", width: 0.25, num_ftrs: 16, out_dim: 64 };
let root: string;
let names: string[];
let out: string;
let server: http.Server;
let base: string;
let baseline: number;

before(async () => {
  privateHome();
  baseline = torch.liveTensors();
  ({ root, names } = await tinyFolder(16));
  out = tempDir("winnow-run-out-");
  const bytes = fs.readFileSync(FIXTURE);
  server = http.createServer((req, res) => {
    const u = req.url ?? "";
    if (u.startsWith("/ok/")) {
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": bytes.length });
      res.end(bytes);
    } else if (u.startsWith("/forbidden")) {
      res.writeHead(403, { "content-type": "application/xml" });
      res.end("<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>");
    } else if (u.startsWith("/expired")) {
      res.writeHead(403, { "content-type": "application/xml" });
      res.end("<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>");
    } else if (u.startsWith("/slow")) {
      // never answers: the client's timeout must end it
    } else {
      res.writeHead(404);
      res.end("no such key");
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

const fixtureCfg = (worker: Record<string, unknown> = {}) => tinyConfig({ worker_config: worker, lightly_config: { model: FIXTURE_MODEL, collate: { input_size: 32 } } });

test("a PyTorch-made checkpoint with enable_training false only embeds and selects (path and http URL agree)", async () => {
  const byPath = await run({ input: root, config: fixtureCfg({ checkpoint: FIXTURE }), output: path.join(out, "fixture-path"), stream: null });
  const byUrl = await run({ input: root, config: fixtureCfg({ checkpoint: `${base}/ok/model.ckpt?X-Amz-Signature=secret` }), output: path.join(out, "fixture-url"), stream: null });
  for (const r of [byPath, byUrl]) {
    assert.equal(r.record.state, "COMPLETED");
    assert.equal(r.record.trained, false);
    assert.ok(!r.record.stages.some((s) => s.state === "TRAINING"));
    assert.equal(r.report.embedding.d, 16);
    assert.equal(lines(r.paths.selectedFilenames).length, 5);
  }
  assert.equal(byPath.record.checkpoint, FIXTURE);
  // The download landed in the run's checkpoints/ folder, byte for byte.
  assert.equal(byUrl.record.checkpoint, path.join(byUrl.paths.checkpoints, "model.ckpt"));
  assert.ok(fs.readFileSync(byUrl.record.checkpoint!).equals(fs.readFileSync(FIXTURE)));
  assert.equal(byUrl.record.weights, "url");
  // Same weights, same images: the same embeddings and selection.
  assert.equal(fs.readFileSync(byUrl.paths.embeddings, "utf8"), fs.readFileSync(byPath.paths.embeddings, "utf8"));
  assert.deepEqual(lines(byUrl.paths.selectedFilenames), lines(byPath.paths.selectedFilenames));
  // The URL's query string (a pre-signed URL's credentials) never reaches the log.
  assert.ok(!fs.readFileSync(byUrl.paths.log, "utf8").includes("secret"));
  assert.equal(torch.liveTensors(), baseline);
});

test("a checkpoint that does not fit lightly_config.model fails with the settings that fit", async () => {
  await assert.rejects(
    run({ input: root, config: tinyConfig({ worker_config: { checkpoint: FIXTURE } }), output: path.join(out, "mismatch"), stream: null }),
    (e: unknown) => {
      assert.ok(e instanceof RunError);
      assert.equal(e.record.state, "FAILED");
      assert.match(e.message, /does not fit the model/);
      assert.match(e.message, /fits lightly_config\.model = \{ name: "resnet-18", width: 0\.25, num_ftrs: 16, out_dim: 64 \}/);
      assert.ok(!fs.existsSync(e.paths.reportJson) && !fs.existsSync(e.paths.reportHtml));
      return true;
    },
  );
});

test("http checkpoints: 403, expired link, 404, size limit and timeout fail the run with a clear reason", async () => {
  const cases: Array<[string, RegExp, Record<string, string>?]> = [
    [`${base}/forbidden/m.ckpt`, /HTTP 403 .*access denied/],
    [`${base}/expired/m.ckpt?X-Amz-Expires=1`, /HTTP 403 .*link has expired/],
    [`${base}/missing/m.ckpt`, /HTTP 404 .*not found/],
    [`${base}/ok/m.ckpt`, /over the limit of 1000 bytes/, { WINNOW_DOWNLOAD_MAX_BYTES: "1000" }],
    [`${base}/slow/m.ckpt`, /no answer from .* within 0\.3 s/, { WINNOW_DOWNLOAD_TIMEOUT_MS: "300" }],
  ];
  let k = 0;
  for (const [url, re, env] of cases) {
    for (const [n, v] of Object.entries(env ?? {})) process.env[n] = v;
    try {
      await assert.rejects(
        run({ input: root, config: fixtureCfg({ checkpoint: url }), output: path.join(out, `http-${k++}`), stream: null }),
        (e: unknown) => {
          assert.ok(e instanceof RunError, String(e));
          assert.match(e.message, re);
          assert.match(e.message, /^run \S+ FAILED: worker_config\.checkpoint: /);
          const rec = readRunRecord(e.record.id);
          assert.equal(rec.state, "FAILED");
          assert.equal(rec.error, e.record.error);
          assert.ok(!fs.existsSync(e.paths.reportJson));
          const left = fs.existsSync(e.paths.checkpoints) ? fs.readdirSync(e.paths.checkpoints) : [];
          assert.deepEqual(left, [], "no partial download left");
          return true;
        },
      );
    } finally {
      for (const n of Object.keys(env ?? {})) delete process.env[n];
    }
  }
});

test("worker_config.embeddings: a custom CSV replaces the embedding step", async () => {
  // Two tight clusters far apart, the first image alone far from both: DIVERSITY with n_samples 3
  // must take one from each cluster plus the outlier.
  const csv = path.join(out, "custom.csv");
  const rows = names.map((n, i) => {
    const v = i === 0 ? [50, 50, 50] : i % 2 ? [10 + i * 0.01, 0, 0] : [0, 10 + i * 0.01, 0];
    return `${n},${v.join(",")},0`;
  });
  fs.writeFileSync(csv, `filenames,embedding_0,embedding_1,embedding_2,labels\r\n${rows.join("\r\n")}\r\nnot-in-folder.png,1,2,3,0\r\n`);
  const r = await run({ input: root, config: tinyConfig({ worker_config: { embeddings: csv, normalize_embeddings: false }, selection_config: { n_samples: 3 } }), output: path.join(out, "custom"), stream: null });
  assert.equal(r.record.weights, "custom-embeddings");
  assert.equal(r.report.embedding.d, 3);
  const sel = lines(r.paths.selectedFilenames);
  assert.equal(sel.length, 3);
  assert.ok(sel.includes(names[0]!));
  const idx = sel.map((s) => names.indexOf(s)).filter((i) => i > 0);
  assert.deepEqual(idx.map((i) => i % 2).sort(), [0, 1], `one from each cluster: ${sel}`);
  assert.ok(r.report.notes.some((n) => /1 row\(s\) for files that are not usable images/.test(n)));
  assert.equal(fs.readFileSync(r.paths.embeddings, "utf8").split("\r\n").filter(Boolean).length, 1 + names.length);
  // A CSV without a row for some image fails, naming the file and the image.
  const partial = path.join(out, "partial.csv");
  fs.writeFileSync(partial, `filenames,embedding_0,labels\r\n${names.slice(1).map((n) => `${n},1,0`).join("\r\n")}\r\n`);
  await assert.rejects(
    run({ input: root, config: tinyConfig({ worker_config: { embeddings: partial } }), output: path.join(out, "partial"), stream: null }),
    new RegExp(`worker_config\\.embeddings: .*partial\\.csv has no row for 1 of the 16 usable images \\(e\\.g\\. "${names[0]}"\\)`),
  );
  // A bad header names the line and the expected format.
  const bad = path.join(out, "bad.csv");
  fs.writeFileSync(bad, "name,x,labels\r\na.png,1,0\r\n");
  await assert.rejects(run({ input: root, config: tinyConfig({ worker_config: { embeddings: bad } }), output: path.join(out, "bad"), stream: null }), /bad\.csv line 1: expected the header filenames,embedding_0/);
});

test("bad input fails the run: a FAILED record, no report", async () => {
  const missing = path.join(out, "no-such-folder");
  const onlyBroken = tempDir("winnow-run-broken-");
  fs.writeFileSync(path.join(onlyBroken, "a.png"), "not a png");
  fs.writeFileSync(path.join(onlyBroken, "b.jpg"), Buffer.alloc(0));
  for (const [input, re] of [[missing, /no such folder/], [onlyBroken, /no usable images \(2 image file\(s\), 2 corrupt\)/]] as const) {
    await assert.rejects(run({ input, config: tinyConfig(), output: path.join(out, `fail-${path.basename(input)}`), stream: null }), (e: unknown) => {
      assert.ok(e instanceof RunError);
      assert.match(e.message, re);
      const rec = readRunRecord(e.record.id);
      assert.equal(rec.state, "FAILED");
      assert.match(rec.error!, re);
      assert.ok(rec.endedAt && rec.durationMs !== null);
      assert.ok(!fs.existsSync(e.paths.reportJson) && !fs.existsSync(e.paths.reportHtml) && !fs.existsSync(e.paths.selectedFilenames));
      assert.match(fs.readFileSync(e.paths.log, "utf8"), /FAILED: /);
      assert.equal(JSON.parse(fs.readFileSync(e.paths.record, "utf8")).state, "FAILED");
      return true;
    });
  }
  // The corrupt files of the second folder were listed before it failed.
  const rec = (await import("../src/run/index.js")).listRunRecords().find((r) => r.input === fs.realpathSync(onlyBroken))!;
  assert.deepEqual(lines(path.join(rec.output, "filenames", "corrupt_filenames.txt")), ["a.png", "b.jpg"]);
});

test("config errors are thrown before a run starts: unknown keys with a suggestion, bad values with the range", async () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ ...tinyConfig(), worker_config: { enable_trainig: true } }, /worker_config\.enable_trainig: unknown key — did you mean 'enable_training'\?/],
    [{ ...tinyConfig(), lightly_confg: {} }, /lightly_confg: unknown key — did you mean 'lightly_config'\?/],
    [tinyConfig({ lightly_config: { trainer: { gpus: 0, max_epochs: 0 } } }), /lightly_config\.trainer\.max_epochs: got 0; allowed: an integer in \[1, 10000\]/],
    [tinyConfig({ worker_config: { corruptness_check: { corruption_threshold: 2 } } }), /worker_config\.corruptness_check\.corruption_threshold: got 2; allowed: a number in \[0, 1\]/],
    [tinyConfig({ worker_config: { checkpoint: "a.ckpt", checkpoint_run_id: "x" } }), /worker_config\.checkpoint_run_id: checkpoint and checkpoint_run_id are both set/],
    [tinyConfig({ selection_config: { n_samples: 0 } }), /selection_config\.n_samples: got 0/],
  ];
  for (const [config, re] of cases) {
    const o = path.join(out, "never-created");
    await assert.rejects(run({ input: root, config, output: o, stream: null }), (e: unknown) => e instanceof RunConfigError && re.test(e.message));
    assert.ok(!fs.existsSync(o));
  }
});
