// What a selection reads besides embeddings: Lightly's .lightly/metadata layout (schema + one JSON per
// image, nested folders; missing/malformed files reported by name), the worker-computed lightly.*
// values (formulas checked against float64 references written here), tags by run id, and the
// checks that end a run at INITIALIZING (well under 1 s) instead of after training.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { run, RunError } from "../src/run/index.js";
import { readMetadataSchema, readMetadataValues, findMetadataEntry } from "../src/predictions/metadata.js";
import { lumaStats, computeLightlyMetadata } from "../src/run/lightly-metadata.js";
import { tempDir, write, rawPng } from "./helpers/data-images.js";
import { privateHome, tinyFolder, tinyConfig, lines } from "./helpers/run-setup.js";

let root: string;
let names: string[];
let out: string;
const SCHEMA = [
  { name: "Weather", path: "weather.description", defaultValue: "unknown", valueDataType: "CATEGORICAL_STRING" },
  { name: "Temp", path: "weather.temperature", valueDataType: "NUMERIC_FLOAT" },
  { name: "Night", path: "night", defaultValue: false, valueDataType: "CATEGORICAL_BOOLEAN" },
];

before(async () => {
  privateHome();
  ({ root, names } = await tinyFolder(12));
  out = tempDir("winnow-selsrc-out-");
  // One image in a nested folder: its metadata file is nested the same way.
  const px = Buffer.alloc(20 * 20 * 3);
  for (let p = 0; p < px.length; p++) px[p] = (p * 37) % 251;
  write(root, "sub/deep/odd.png", await rawPng(px, 20, 20));
  const md = path.join(root, ".lightly", "metadata");
  write(md, "schema.json", JSON.stringify(SCHEMA));
  names.forEach((n, j) => {
    if (j === 3) return; // no file: defaults
    const rel = n.replace(/\.png$/, ".json");
    if (j === 4) write(md, rel, "{ not json"); // malformed
    else if (j === 5) write(md, rel, JSON.stringify({ file_name: n, type: "image", metadata: { weather: { description: "sunny", temperature: "hot" } } }));
    else write(md, rel, JSON.stringify({ file_name: n, type: "image", metadata: { weather: { description: j % 3 === 0 ? "rain" : "sunny", temperature: j * 1.5 }, night: j % 2 === 0 } }));
  });
  write(md, "sub/deep/odd.json", JSON.stringify({ file_name: "sub/deep/odd.png", type: "image", metadata: { weather: { description: "fog", temperature: -2 } } }));
});

test("Lightly's metadata layout: schema, dot paths, defaults, nested folders, problems by file name", () => {
  const dir = path.join(root, ".lightly", "metadata");
  const schema = readMetadataSchema(dir);
  assert.equal(findMetadataEntry(schema, "Weather"), findMetadataEntry(schema, "weather.description"));
  const imgs = [...names.slice(0, 7), "sub/deep/odd.png"];
  const r = readMetadataValues(dir, schema, imgs);
  assert.deepEqual(r.values[0], ["rain", "sunny", "sunny", "unknown", null, "sunny", "rain", "fog"]);
  assert.deepEqual(r.values[1], [0, 1.5, 3, null, null, null, 9, -2]);
  assert.deepEqual(r.values[2], ["true", "false", "true", "false", null, "false", "true", "false"]);
  const by = (code: string) => r.issues.filter((i) => i.code === code).map((i) => i.file);
  assert.deepEqual(by("missing"), [names[3].replace(/\.png$/, ".json")]);
  assert.deepEqual(by("malformed"), [names[4].replace(/\.png$/, ".json")]);
  assert.deepEqual(by("bad_value"), [names[5].replace(/\.png$/, ".json")]);
  assert.match(r.issues.find((i) => i.code === "bad_value")!.message, /metadata\.weather\.temperature is "hot", not a NUMERIC_FLOAT value/);
  // a broken schema names the file and the entry
  const bad = tempDir("winnow-md-bad-");
  write(bad, "schema.json", JSON.stringify([{ name: "x", path: "x", valueDataType: "NUMBER" }]));
  assert.throws(() => readMetadataSchema(bad), /schema\.json: entry 0: "valueDataType" is "NUMBER"; allowed: NUMERIC_INT/);
});

test("lightly.sharpness / snr / size / width / height follow the documented formulas", async () => {
  // float64 reference: luma, then the Laplacian by explicit neighbour sums, two-pass variance.
  const w = 9;
  const h = 7;
  const rgb = Uint8Array.from({ length: w * h * 3 }, (_, p) => (p * 53 + (p % 7) * 11) % 256);
  const g = (x: number, y: number) => 0.299 * rgb[3 * (y * w + x)] + 0.587 * rgb[3 * (y * w + x) + 1] + 0.114 * rgb[3 * (y * w + x) + 2];
  const lap: number[] = [];
  for (let y = 1; y < h - 1; y++) for (let x = 1; x < w - 1; x++) lap.push(g(x - 1, y) + g(x + 1, y) + g(x, y - 1) + g(x, y + 1) - 4 * g(x, y));
  const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
  const variance = (a: number[]) => mean(a.map((v) => (v - mean(a)) ** 2));
  const all = Array.from({ length: w * h }, (_, p) => g(p % w, Math.floor(p / w)));
  const st = lumaStats(rgb, w, h);
  assert.ok(Math.abs(st.sharpness - variance(lap)) < 1e-9 * variance(lap), `${st.sharpness} vs ${variance(lap)}`);
  assert.ok(Math.abs(st.snr! - mean(all) / Math.sqrt(variance(all))) < 1e-9);
  assert.equal(lumaStats(new Uint8Array(4 * 4 * 3).fill(9), 4, 4).snr, null);
  assert.equal(lumaStats(new Uint8Array(4 * 4 * 3).fill(9), 4, 4).sharpness, 0);
  // on a file: the PNG decodes to the same pixels, so the same values; size is the file's
  const dir = tempDir("winnow-lm-");
  write(dir, "a.png", await rawPng(Buffer.from(rgb), w, h));
  const v = await computeLightlyMetadata(dir, ["a.png", "gone.png"], ["lightly.sharpness", "lightly.snr", "lightly.sizeInBytes", "lightly.width", "lightly.height"]);
  assert.deepEqual([v["lightly.width"], v["lightly.height"], v["lightly.sizeInBytes"]], [[w, null], [h, null], [fs.statSync(path.join(dir, "a.png")).size, null]]);
  assert.ok(Math.abs(v["lightly.sharpness"][0]! - variance(lap)) < 1e-9 * variance(lap));
});

const failsAtInit = async (sel: Record<string, unknown>, pattern: RegExp, extra: { lightlyPath?: string } = {}) => {
  const t0 = performance.now();
  const err = await run({ input: root, config: tinyConfig({ selection_config: sel }), output: path.join(out, `f${Math.random()}`), stream: null, ...extra }).then(
    () => assert.fail("the run should fail"),
    (e: unknown) => e,
  );
  const ms = performance.now() - t0;
  assert.ok(err instanceof RunError, String(err));
  assert.equal(err.record.state, "FAILED");
  assert.deepEqual(err.record.stages.map((s) => s.state), ["INITIALIZING"]);
  assert.match(err.record.error!, pattern);
  assert.ok(ms < 1000, `failed after ${ms.toFixed(0)} ms`);
};

test("missing metadata, unknown key, unknown tag, unknown task fail at INITIALIZING in under 1 s", async () => {
  const one = (input: object, strategy: object) => ({ n_samples: 3, strategies: [{ input, strategy }] });
  const noMd = tempDir("winnow-nomd-");
  await failsAtInit(one({ type: "METADATA", key: "weather.description" }, { type: "BALANCE", distribution: "UNIFORM" }),
    /^selection_config\.strategies\[0\]\.input\.key: metadata "weather\.description" needs Lightly's metadata folder: .*schema\.json does not exist/, { lightlyPath: noMd });
  await failsAtInit(one({ type: "METADATA", key: "weather.humidity" }, { type: "WEIGHTS" }),
    /^selection_config\.strategies\[0\]\.input\.key: no entry with path or name "weather\.humidity" in .*schema\.json \(paths there: weather\.description, weather\.temperature, night/);
  await failsAtInit(one({ type: "EMBEDDINGS", tag_name: "no-such-tag" }, { type: "SIMILARITY" }), /^selection_config\.strategies\[0\]\.input\.tag_name: no tag "no-such-tag"/);
  await failsAtInit(one({ type: "SCORES", task: "det", score: "uncertainty_entropy" }, { type: "WEIGHTS" }), /^selection_config\.strategies\[0\]\.input\.task: task "det" needs predictions: .*tasks\.json does not exist/);
  // a predictions folder that lists the task but has no folder for it
  const lp = tempDir("winnow-preds-");
  write(lp, ".lightly/predictions/tasks.json", JSON.stringify(["det"]));
  await failsAtInit(one({ type: "PREDICTIONS", task: "det", name: "CATEGORY_COUNT" }, { type: "WEIGHTS" }), /^selection_config\.strategies\[0\]\.input\.task: task "det": .*schema\.json/, { lightlyPath: lp });
  await failsAtInit(one({ type: "PREDICTIONS", task: "seg", name: "CATEGORY_COUNT" }, { type: "WEIGHTS" }), /^selection_config\.strategies\[0\]\.input\.task: task "seg" is not in .*tasks\.json \(tasks there: det\)/, { lightlyPath: lp });
});

test("relevant_filenames_file: only the listed files are selected; a missing file fails at INITIALIZING", async () => {
  write(root, ".lightly/relevant.txt", `# picked by hand\n${names[2]}\n./${names[7]}\nsub/deep/odd.png\nnot-there.png\n`);
  const r = await run({
    input: root, output: path.join(out, "relevant"), stream: null,
    config: tinyConfig({ worker_config: { relevant_filenames_file: ".lightly/relevant.txt" }, selection_config: { n_samples: -1, strategies: [{ input: { type: "EMBEDDINGS" }, strategy: { type: "DIVERSITY" } }] } }),
  });
  assert.deepEqual(lines(r.paths.selectedFilenames).sort(), [names[2], names[7], "sub/deep/odd.png"].sort());
  assert.match(fs.readFileSync(r.paths.log, "utf8"), /1 listed file\(s\) are not usable images of the input \(e\.g\. not-there\.png\)/);
  const t0 = performance.now();
  const err = await run({ input: root, output: path.join(out, "relevant-missing"), stream: null, config: tinyConfig({ worker_config: { relevant_filenames_file: "nope.txt" } }) }).catch((e: unknown) => e);
  assert.ok(err instanceof RunError);
  assert.deepEqual(err.record.stages.map((s) => s.state), ["INITIALIZING"]);
  assert.match(err.record.error!, /^worker_config\.relevant_filenames_file: .*nope\.txt cannot be opened \(ENOENT\); expected a text file/);
  assert.ok(performance.now() - t0 < 1000);
});

test("a run selects on custom and worker metadata, and a COMPLETED run's id is a tag for SIMILARITY", async () => {
  const first = await run({
    input: root, output: path.join(out, "md-run"), stream: null,
    config: tinyConfig({ selection_config: { n_samples: 4, strategies: [
      { input: { type: "METADATA", key: "lightly.width" }, strategy: { type: "THRESHOLD", threshold: 20, operation: "BIGGER_EQUAL" } },
      { input: { type: "METADATA", key: "weather.description" }, strategy: { type: "BALANCE", target: { fog: 0.5, rain: 0.5 } } },
    ] } }),
  });
  const picked = lines(first.paths.selectedFilenames);
  assert.equal(picked.length, 4);
  // the one fog image (nested folder) and rain images come first
  assert.ok(picked.includes("sub/deep/odd.png"), picked.join(","));
  assert.ok(fs.readFileSync(first.paths.log, "utf8").includes("metadata file problem(s)"));
  const issues = JSON.parse(fs.readFileSync(path.join(first.paths.output, "data", "metadata_issues.json"), "utf8")) as { file: string; code: string }[];
  // only the keys the selection uses are read: the bad temperature of names[5] is not a problem here
  assert.deepEqual(issues.map((i) => `${i.code} ${i.file}`).sort(), [`malformed ${names[4].replace(/\.png$/, ".json")}`, `missing ${names[3].replace(/\.png$/, ".json")}`]);
  const second = await run({
    input: root, output: path.join(out, "tag-run"), stream: null,
    config: tinyConfig({ selection_config: { n_samples: 2, strategies: [{ input: { type: "EMBEDDINGS", tag_name: first.record.id }, strategy: { type: "SIMILARITY" } }] } }),
  });
  assert.equal(second.record.state, "COMPLETED");
  assert.equal(lines(second.paths.selectedFilenames).length, 2);
});
