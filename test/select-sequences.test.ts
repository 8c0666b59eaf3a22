// Sequence selection's pieces (src/select/sequences.ts): cutting videos into sequences of N consecutive
// frames, their mean embeddings, how many sequences n_samples / proportion_samples ask for, and the
// combinations the run refuses (src/run/sequence-select.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { frameSequences, sequenceCount, sequenceEmbeddings, type FrameRef } from "../src/select/index.js";
import { WinnowError } from "../src/util/errors.js";
import { resolveRunConfig } from "../src/config/run-config.js";
import { checkSequenceConfig } from "../src/run/sequence-select.js";

const fr = (video: string, frame: number): FrameRef => ({ video, frame });

test("frameSequences: N consecutive frames of one video, from frame 0, never across a gap, a video end or an image", () => {
  // Rows as a listing sorts them: an image, video a (frames 0–9, frame 5 missing), video b (0–6), an image.
  const rows: Array<FrameRef | undefined> = [undefined];
  for (let f = 0; f < 10; f++) if (f !== 5) rows.push(fr("a.mp4", f));
  for (let f = 0; f < 7; f++) rows.push(fr("b.mp4", f));
  rows.push(undefined);
  const seqs = frameSequences(rows, 3);
  const asFrames = seqs.map((s) => s.map((r) => rows[r]!));
  // a: [0,1,2] ok, [3,4,5] has the gap, [6,7,8] ok, [9] too short; b: [0,1,2], [3,4,5], [6] too short.
  assert.deepEqual(asFrames.map((s) => `${s[0]!.video}:${s.map((x) => x.frame).join(",")}`), ["a.mp4:0,1,2", "a.mp4:6,7,8", "b.mp4:0,1,2", "b.mp4:3,4,5"]);
  for (const s of asFrames) {
    assert.equal(s.length, 3);
    assert.ok(s.every((x, k) => x.video === s[0]!.video && x.frame === s[0]!.frame + k));
  }
  // Rows in any order: sequences still come out in frame order.
  const shuffled = [fr("c.mp4", 3), fr("c.mp4", 1), fr("c.mp4", 0), fr("c.mp4", 2)];
  assert.deepEqual(frameSequences(shuffled, 2), [[2, 1], [3, 0]]);
  assert.deepEqual(frameSequences(shuffled, 1).length, 4);
  assert.deepEqual(frameSequences([undefined, undefined], 2), []);
  assert.throws(() => frameSequences(rows, 0), RangeError);
});

test("sequenceEmbeddings: the mean of each sequence's rows", () => {
  const values = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]); // 4 rows × d 2
  const out = sequenceEmbeddings(values, 2, [[0, 1], [3, 2, 1]]);
  assert.deepEqual([...out], [2, 3, (7 + 5 + 3) / 3, (8 + 6 + 4) / 3].map(Math.fround));
});

test("sequenceCount: n_samples must be a multiple of N; a proportion rounds up to whole sequences", () => {
  assert.equal(sequenceCount({ n_samples: 12 }, 4, 100), 3);
  assert.equal(sequenceCount({ n_samples: -1 }, 4, 100), -1);
  assert.throws(() => sequenceCount({ n_samples: 10 }, 4, 100), (e: unknown) => e instanceof WinnowError && e.code === "invalid_config" && /n_samples 10 is not a multiple of .*selected_sequence_length 4.*8 or 12/.test(e.message));
  // floor(0.3 × 20) = 6 frames → 2 sequences of 4 (8 frames); 0.2 × 20 = 4 → exactly 1.
  assert.equal(sequenceCount({ proportion_samples: 0.3 }, 4, 20), 2);
  assert.equal(sequenceCount({ proportion_samples: 0.2 }, 4, 20), 1);
  assert.equal(sequenceCount({ proportion_samples: 0.01 }, 4, 20), 0);
});

test("checkSequenceConfig: what sequence selection cannot combine with is refused up front, naming the key", () => {
  const cfg = (worker: Record<string, unknown>, selection: Record<string, unknown> = {}) =>
    resolveRunConfig({ worker_config: { selected_sequence_length: 4, ...worker }, selection_config: { n_samples: 8, ...selection } }, {}, null);
  const refused = (c: ReturnType<typeof cfg>, relevant: string[] | null, where: string, msg: RegExp): void => {
    assert.throws(() => checkSequenceConfig(c, relevant), (e: unknown) => e instanceof WinnowError && e.code === "invalid_config" && e.where === where && msg.test(e.message));
  };
  checkSequenceConfig(cfg({}), null); // EMBEDDINGS + DIVERSITY (the default strategy): fine
  checkSequenceConfig(cfg({}, { strategies: [{ input: { type: "RANDOM" }, strategy: { type: "WEIGHTS" } }] }), null);
  refused(cfg({ videos: false }), null, "worker_config.videos", /selected_sequence_length 4: sequences are cut from videos/);
  refused(cfg({ use_datapool: true }), null, "worker_config.use_datapool", /use_datapool is not supported/);
  refused(cfg({}), ["a.png"], "worker_config.relevant_filenames_file", /relevant_filenames_file is not supported/);
  refused(cfg({}, { strategies: [{ input: { type: "METADATA", key: "lightly.sharpness" }, strategy: { type: "WEIGHTS" } }] }), null,
    "selection_config.strategies[0].input", /input METADATA is not supported \(only EMBEDDINGS and RANDOM\)/);
  // Length 1 (the default): nothing to check.
  checkSequenceConfig(resolveRunConfig({ worker_config: { use_datapool: true }, selection_config: { n_samples: 3 } }, {}, null), ["a.png"]);
});
