// runSelection against a brute-force reference written here with plain float64 loops: Lightly's
// documented semantics (THRESHOLD filters first; the rest is a greedy argmax, one pick at a time, of
// Π score^strength; DIVERSITY = distance to the nearest selected sample normalised to max 1; WEIGHTS
// normalised to max 1; BALANCE toward the target; SIMILARITY constant) must give identical picks.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as torch from "../src/torch/index.js";
import { runSelection, SelectionInputError, type SelectionItems } from "../src/select/index.js";
import { parseSelectionConfig, type SelectionConfig } from "../src/config/selection-config.js";
import { randomValues } from "../src/select/inputs.js";

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

function makeItems(n: number, dim: number, seed: number): SelectionItems {
  const r = lcg(seed);
  const emb = new Float32Array(n * dim).map(() => r() * 2 - 1);
  const cats = ["car", "bus", "bike"];
  return {
    filenames: Array.from({ length: n }, (_, j) => `img_${String(j).padStart(4, "0")}.png`),
    embeddings: emb,
    dim,
    scores: { det: { entropy: Array.from({ length: n }, () => r()), margin: Array.from({ length: n }, () => Math.floor(r() * 4) / 4) } },
    metadata: {
      sharpness: Array.from({ length: n }, () => Math.round(r() * 100)),
      weather: Array.from({ length: n }, () => (r() < 0.05 ? null : ["sunny", "rainy", "fog", "snow"][Math.floor(r() ** 2 * 4)])),
    },
    predictions: {
      det: { categories: cats, items: Array.from({ length: n }, () => ({ categoryIds: Array.from({ length: Math.floor(r() * 4) }, () => Math.floor(r() ** 1.5 * 3)) })) },
    },
  };
}

// ---- the reference --------------------------------------------------------------------------------

type Opts = { datapool?: string[]; normalizeEmbeddings?: boolean; tags?: Record<string, string[]> };

function refRows(items: SelectionItems, normalize: boolean): number[][] {
  const d = items.dim!;
  return items.filenames.map((_, j) => {
    const row = Array.from(items.embeddings!.subarray(j * d, (j + 1) * d));
    if (!normalize) return row;
    // as the engine normalises: in float32
    const nrm = Math.fround(Math.sqrt(row.reduce((a, v) => a + v * v, 0)));
    return row.map((v) => Math.fround(v / nrm));
  });
}
const dist = (a: number[], b: number[]): number => Math.sqrt(a.reduce((s, v, k) => s + (v - b[k]) ** 2, 0));

function refValues(input: SelectionConfig["strategies"][number]["input"], items: SelectionItems): number[] {
  const n = items.filenames.length;
  if (input.type === "SCORES") return Array.from(items.scores![input.task][input.score]);
  if (input.type === "METADATA") return Array.from(items.metadata![input.key], (v) => (v === null ? NaN : Number(v)));
  if (input.type === "RANDOM") return Array.from(randomValues(input.random_seed, n));
  if (input.type === "PREDICTIONS") {
    const p = items.predictions![input.task];
    const cat = input.category === undefined ? -1 : p.categories.indexOf(input.category);
    return p.items.map((it) => it.categoryIds.filter((c) => cat < 0 || c === cat).length);
  }
  throw new Error("no values");
}

/** Per item: share of each target class and of "the rest" (last entry). */
function refClasses(input: SelectionConfig["strategies"][number]["input"], items: SelectionItems, classes: string[]): number[][] {
  const C = classes.length;
  if (input.type === "METADATA") {
    return Array.from(items.metadata![input.key], (v) => {
      const row = new Array(C + 1).fill(0);
      if (v !== null) row[classes.includes(String(v)) ? classes.indexOf(String(v)) : C] = 1;
      return row;
    });
  }
  const p = items.predictions![(input as { task: string }).task];
  return p.items.map((it) => {
    const row = new Array(C + 1).fill(0);
    for (const c of it.categoryIds) {
      const k = classes.indexOf(p.categories[c]);
      row[k < 0 ? C : k] += 1 / it.categoryIds.length;
    }
    return row;
  });
}

function reference(cfg: SelectionConfig, items: SelectionItems, opts: Opts = {}): number[] {
  const n = items.filenames.length;
  const want = cfg.n_samples ?? Math.floor(cfg.proportion_samples! * n);
  const pool = (opts.datapool ?? []).map((f) => items.filenames.indexOf(f)).filter((j) => j >= 0);
  const ok = new Array(n).fill(true);
  for (const p of pool) ok[p] = false;
  const rows = items.embeddings ? refRows(items, !!opts.normalizeEmbeddings) : [];
  const scorers: ((j: number, centres: number[], cands: number[]) => number | null)[] = [];
  for (const { input, strategy } of cfg.strategies) {
    if (strategy.type === "THRESHOLD") {
      const v = refValues(input, items);
      const t = strategy.threshold;
      const pass = { SMALLER: (x: number) => x < t, SMALLER_EQUAL: (x: number) => x <= t, BIGGER: (x: number) => x > t, BIGGER_EQUAL: (x: number) => x >= t }[strategy.operation];
      v.forEach((x, j) => { if (!pass(x)) ok[j] = false; });
    } else if (strategy.type === "WEIGHTS") {
      const v = refValues(input, items).map((x) => (Number.isNaN(x) ? 0 : x));
      const max = Math.max(...v);
      scorers.push((j) => (max > 0 ? v[j] / max : 1) ** strategy.strength);
    } else if (strategy.type === "SIMILARITY") {
      const names = (input as { filenames?: string[]; tag_name?: string }).filenames ?? opts.tags![(input as { tag_name: string }).tag_name];
      const q = names.map((f) => items.filenames.indexOf(f)).filter((j) => j >= 0);
      scorers.push((j) => (1 / (1 + Math.min(...q.map((c) => dist(rows[j], rows[c]))))) ** strategy.strength);
    } else if (strategy.type === "DIVERSITY") {
      const minD = strategy.stopping_condition_minimum_distance ?? 0;
      scorers.push((j, centres, cands) => {
        if (!centres.length) return 1;
        const d = (k: number) => Math.min(...centres.map((c) => dist(rows[k], rows[c])));
        const dj = d(j);
        if (dj === 0 || dj < minD) return null; // duplicate / too close: not selectable
        const dmax = Math.max(...cands.map(d));
        return (dj / dmax) ** strategy.strength;
      });
    } else if (strategy.type === "BALANCE") {
      const classes = Object.keys(strategy.target);
      const t = [...classes.map((c) => strategy.target[c]), Math.max(0, 1 - classes.reduce((a, c) => a + strategy.target[c], 0))];
      const P = refClasses(input, items, classes);
      scorers.push((j, centres) => {
        const counts = t.map((_, k) => centres.reduce((a, c) => a + P[c][k], 0));
        const m = counts.reduce((a, b) => a + b, 0);
        return (P[j].reduce((a, p, k) => a + p * Math.max(0, t[k] - counts[k] / (m + 1)), 0) + 1e-6) ** strategy.strength;
      });
    }
  }
  const selected: number[] = [];
  while (selected.length < want) {
    const centres = [...pool, ...selected];
    const cands = [...Array(n).keys()].filter((j) => ok[j] && !selected.includes(j));
    let best = -1;
    let bestScore = -Infinity;
    for (const j of cands) {
      let s = 1;
      let allowed = true;
      for (const f of scorers) {
        const v = f(j, centres, cands);
        if (v === null) allowed = false;
        else s *= v;
      }
      if (allowed && s > bestScore) {
        best = j;
        bestScore = s;
      }
    }
    if (best < 0) break;
    selected.push(best);
  }
  return selected;
}

// ---- the tests --------------------------------------------------------------------------------------

const items = makeItems(120, 6, 7);
const cfgOf = (n: number | { proportion: number }, strategies: unknown[]): SelectionConfig =>
  parseSelectionConfig(typeof n === "number" ? { n_samples: n, strategies } : { proportion_samples: n.proportion, strategies });
const EMB = { type: "EMBEDDINGS" };
const same = (cfg: SelectionConfig, opts: Opts = {}, its = items): number[] => {
  const got = runSelection(cfg, its, opts).selected;
  assert.deepEqual(got, reference(cfg, its, opts));
  return got;
};

test("each strategy alone gives the reference's picks", () => {
  const base = torch.liveTensors();
  same(cfgOf(30, [{ input: EMB, strategy: { type: "DIVERSITY" } }]));
  same(cfgOf(30, [{ input: EMB, strategy: { type: "DIVERSITY" } }]), { normalizeEmbeddings: true });
  const byWeight = same(cfgOf(25, [{ input: { type: "SCORES", task: "det", score: "entropy" }, strategy: { type: "WEIGHTS" } }]));
  // WEIGHTS alone = descending weight
  const w = items.scores!.det.entropy;
  for (let k = 1; k < byWeight.length; k++) assert.ok(w[byWeight[k - 1]] >= w[byWeight[k]]);
  // equal weights (quarter steps): ties broken by index
  const ties = same(cfgOf(40, [{ input: { type: "SCORES", task: "det", score: "margin" }, strategy: { type: "WEIGHTS" } }]));
  const m = items.scores!.det.margin;
  for (let k = 1; k < ties.length; k++) if (m[ties[k]] === m[ties[k - 1]]) assert.ok(ties[k] > ties[k - 1]);
  same(cfgOf(20, [{ input: { type: "METADATA", key: "sharpness" }, strategy: { type: "WEIGHTS", strength: 2 } }]));
  same(cfgOf(20, [{ input: { type: "PREDICTIONS", task: "det", name: "CATEGORY_COUNT", category: "bus" }, strategy: { type: "WEIGHTS" } }]));
  same(cfgOf(20, [{ input: { type: "RANDOM", random_seed: 3 }, strategy: { type: "WEIGHTS" } }]));
  same(cfgOf(20, [{ input: { type: "EMBEDDINGS", filenames: [items.filenames[5], items.filenames[77]] }, strategy: { type: "SIMILARITY" } }]));
  same(cfgOf(20, [{ input: { type: "EMBEDDINGS", tag_name: "q" }, strategy: { type: "SIMILARITY" } }]), { tags: { q: [items.filenames[9]] }, normalizeEmbeddings: true });
  assert.equal(torch.liveTensors(), base, "no tensor outlives runSelection");
});

test("BALANCE follows the target (metadata classes, detection class distributions)", () => {
  const target = { sunny: 0.25, rainy: 0.25, fog: 0.25, snow: 0.25 };
  const got = same(cfgOf(40, [{ input: { type: "METADATA", key: "weather" }, strategy: { type: "BALANCE", target } }]));
  // The data has few fog/snow; a balanced selection of 40 holds all it can of the rare classes.
  const w = items.metadata!.weather;
  const count = (sel: number[], c: string) => sel.filter((j) => w[j] === c).length;
  const avail = (c: string) => Array.from(w).filter((v) => v === c).length;
  for (const c of ["fog", "snow"]) assert.equal(count(got, c), Math.min(10, avail(c)), c);
  assert.ok(avail("sunny") > 30 && count(got, "sunny") < 20, "the majority class is not over-picked");
  // fractions summing to < 1: the rest goes to every other class together
  same(cfgOf(30, [{ input: { type: "METADATA", key: "weather" }, strategy: { type: "BALANCE", target: { fog: 0.5 } } }]));
  same(cfgOf(30, [{ input: { type: "PREDICTIONS", task: "det", name: "CLASS_DISTRIBUTION" }, strategy: { type: "BALANCE", target: { car: 0.2, bus: 0.4, bike: 0.4 } } }]));
});

test("THRESHOLD filters first, with each operation; the others then combine", () => {
  for (const operation of ["SMALLER", "SMALLER_EQUAL", "BIGGER", "BIGGER_EQUAL"]) {
    const cfg = cfgOf(500, [
      { input: { type: "METADATA", key: "sharpness" }, strategy: { type: "THRESHOLD", threshold: 50, operation } },
      { input: EMB, strategy: { type: "DIVERSITY" } },
    ]);
    const r = runSelection(cfg, items);
    const s = items.metadata!.sharpness as number[];
    const pass = s.map((v) => ({ SMALLER: v < 50, SMALLER_EQUAL: v <= 50, BIGGER: v > 50, BIGGER_EQUAL: v >= 50 })[operation]!);
    assert.deepEqual([...r.selected].sort((a, b) => a - b), pass.flatMap((p, j) => (p ? [j] : [])), operation);
    assert.equal(r.stoppedBy, "no_candidates_left");
    assert.equal(r.candidates, pass.filter(Boolean).length);
  }
  same(cfgOf(15, [
    { input: { type: "SCORES", task: "det", score: "entropy" }, strategy: { type: "THRESHOLD", threshold: 0.3, operation: "BIGGER_EQUAL" } },
    { input: { type: "RANDOM", random_seed: 1 }, strategy: { type: "THRESHOLD", threshold: 0.8, operation: "SMALLER" } },
    { input: EMB, strategy: { type: "DIVERSITY" } },
  ]));
  // items without the value (null metadata) fail every threshold
  const r = runSelection(cfgOf(500, [{ input: { type: "METADATA", key: "sharpness" }, strategy: { type: "THRESHOLD", threshold: -1, operation: "BIGGER" } }]),
    { ...items, metadata: { sharpness: (items.metadata!.sharpness as number[]).map((v, j) => (j % 2 ? null : v)) } });
  assert.ok(r.selected.every((j) => j % 2 === 0) && r.selected.length === 60);
});

test("combinations: product of scores with strength exponents equals the reference", () => {
  const entropy = { type: "SCORES", task: "det", score: "entropy" };
  const weather = { type: "METADATA", key: "weather" };
  const cases: unknown[][] = [
    [{ input: EMB, strategy: { type: "DIVERSITY" } }, { input: entropy, strategy: { type: "WEIGHTS" } }],
    [{ input: EMB, strategy: { type: "DIVERSITY", strength: 0.5 } }, { input: entropy, strategy: { type: "WEIGHTS", strength: 3 } }],
    [{ input: EMB, strategy: { type: "DIVERSITY", strength: 2 } }, { input: entropy, strategy: { type: "WEIGHTS", strength: -1 } }],
    [
      { input: EMB, strategy: { type: "DIVERSITY" } },
      { input: entropy, strategy: { type: "WEIGHTS", strength: 0.7 } },
      { input: weather, strategy: { type: "BALANCE", target: { sunny: 0.4, rainy: 0.4 }, strength: 2 } },
    ],
    [
      { input: { type: "EMBEDDINGS", filenames: [items.filenames[3]] }, strategy: { type: "SIMILARITY", strength: 1.5 } },
      { input: EMB, strategy: { type: "DIVERSITY" } },
      { input: { type: "PREDICTIONS", task: "det", name: "CLASS_DISTRIBUTION" }, strategy: { type: "BALANCE", target: { bike: 0.5 } } },
    ],
  ];
  for (const strategies of cases) same(cfgOf(25, strategies));
  // the strength changes the picks (it is not ignored)
  const a = runSelection(cfgOf(25, cases[0]), items).selected;
  const b = runSelection(cfgOf(25, cases[1]), items).selected;
  assert.notDeepEqual(a, b);
  // proportion_samples: floor(proportion × N)
  assert.equal(runSelection(cfgOf({ proportion: 0.1 }, cases[0]), items).selected.length, 12);
});

test("datapool: its samples are centres and counts, never reselected", () => {
  const div = cfgOf(20, [{ input: EMB, strategy: { type: "DIVERSITY" } }]);
  const pool = [items.filenames[4], items.filenames[50], items.filenames[99], "gone.png"];
  const r = runSelection(div, items, { datapool: pool });
  assert.deepEqual(r.selected, reference(div, items, { datapool: pool }));
  assert.equal(r.datapoolFound, 3);
  assert.deepEqual(r.datapoolMissing, ["gone.png"]);
  for (const p of [4, 50, 99]) assert.ok(!r.selected.includes(p));
  // continuing a selection with its first half as the datapool gives its second half
  const full = runSelection(cfgOf(30, [{ input: EMB, strategy: { type: "DIVERSITY" } }]), items).selected;
  const cont = runSelection(cfgOf(15, [{ input: EMB, strategy: { type: "DIVERSITY" } }]), items, { datapool: full.slice(0, 15).map((j) => items.filenames[j]) }).selected;
  assert.deepEqual(cont, full.slice(15));
  // the general loop too (with WEIGHTS and BALANCE, the datapool counts toward the balance)
  const combo = cfgOf(20, [
    { input: EMB, strategy: { type: "DIVERSITY" } },
    { input: { type: "SCORES", task: "det", score: "entropy" }, strategy: { type: "WEIGHTS" } },
    { input: { type: "METADATA", key: "weather" }, strategy: { type: "BALANCE", target: { rainy: 0.5, sunny: 0.5 } } },
  ]);
  same(combo, { datapool: pool });
  // a datapool of only rainy images: the new picks lean to sunny to restore the balance
  const w = items.metadata!.weather;
  const rainy = items.filenames.filter((_, j) => w[j] === "rainy").slice(0, 10);
  const bal = cfgOf(10, [{ input: { type: "METADATA", key: "weather" }, strategy: { type: "BALANCE", target: { rainy: 0.5, sunny: 0.5 } } }]);
  const got = same(bal, { datapool: rainy });
  assert.ok(got.every((j) => w[j] === "sunny"), `picks after a rainy datapool: ${got.map((j) => w[j])}`);
});

test("stopping_condition_minimum_distance stops once nothing is that far", () => {
  const full = runSelection(cfgOf(100, [{ input: EMB, strategy: { type: "DIVERSITY" } }]), items);
  const thr = (full.distances![40] + full.distances![41]) / 2;
  const cfg = cfgOf(100, [{ input: EMB, strategy: { type: "DIVERSITY", stopping_condition_minimum_distance: thr } }]);
  const r = runSelection(cfg, items);
  assert.equal(r.selected.length, 41);
  assert.equal(r.stoppedBy, "stopping_condition_minimum_distance");
  assert.deepEqual(r.selected, reference(cfg, items));
  assert.ok(r.distances!.slice(1).every((d) => d >= thr));
  // in a combination: samples closer than the minimum are never picked; the selection stops when none is left
  const combo = cfgOf(100, [
    { input: EMB, strategy: { type: "DIVERSITY", stopping_condition_minimum_distance: thr } },
    { input: { type: "SCORES", task: "det", score: "entropy" }, strategy: { type: "WEIGHTS", strength: 2 } },
  ]);
  const rc = runSelection(combo, items);
  assert.deepEqual(rc.selected, reference(combo, items));
  assert.equal(rc.stoppedBy, "stopping_condition_minimum_distance");
  assert.ok(rc.selected.length < 100);
  assert.equal(runSelection(cfgOf(10, [{ input: EMB, strategy: { type: "DIVERSITY" } }]), items).stoppedBy, "n_samples");
});

test("determinism: same input, same picks; exact duplicates never selected", () => {
  const cfg = cfgOf(30, [
    { input: EMB, strategy: { type: "DIVERSITY" } },
    { input: { type: "RANDOM", random_seed: 9 }, strategy: { type: "WEIGHTS" } },
  ]);
  assert.deepEqual(runSelection(cfg, items).selected, runSelection(cfg, items).selected);
  const other = cfgOf(30, [{ input: EMB, strategy: { type: "DIVERSITY" } }, { input: { type: "RANDOM", random_seed: 10 }, strategy: { type: "WEIGHTS" } }]);
  assert.notDeepEqual(runSelection(cfg, items).selected, runSelection(other, items).selected, "the random seed matters");
  // 10 distinct points, each present 4 times: each point is selected once, then the selection stops
  // (alone: its lowest index; with RANDOM weights: the copy with the highest weight).
  const base = makeItems(10, 3, 1);
  const dup: SelectionItems = { filenames: Array.from({ length: 40 }, (_, j) => `d${j}`), dim: 3, embeddings: new Float32Array(120) };
  for (let j = 0; j < 40; j++) dup.embeddings!.set(base.embeddings!.subarray((j % 10) * 3, (j % 10) * 3 + 3), j * 3);
  for (const strategies of [
    [{ input: EMB, strategy: { type: "DIVERSITY" } }],
    [{ input: EMB, strategy: { type: "DIVERSITY" } }, { input: { type: "RANDOM" }, strategy: { type: "WEIGHTS" } }],
  ]) {
    const r = runSelection(cfgOf(40, strategies), dup);
    assert.deepEqual(r.selected.map((j) => j % 10).sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(r.stoppedBy, "no_candidates_left");
    assert.deepEqual(r.selected, reference(cfgOf(40, strategies), dup));
    if (strategies.length === 1) assert.ok(r.selected.every((j) => j < 10));
  }
  // RANDOM values are uniform in [0, 1): mean near 1/2
  const v = randomValues(123, 10000);
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  assert.ok(Math.abs(mean - 0.5) < 0.02 && Math.min(...v) >= 0 && Math.max(...v) < 1);
});

test("missing inputs name the strategy and what exists", () => {
  const err = (cfg: SelectionConfig, its: SelectionItems, re: RegExp) =>
    assert.throws(() => runSelection(cfg, its), (e: unknown) => e instanceof SelectionInputError && re.test((e as Error).message));
  err(cfgOf(5, [{ input: EMB, strategy: { type: "DIVERSITY" } }, { input: { type: "SCORES", task: "seg", score: "entropy" }, strategy: { type: "WEIGHTS" } }]), items,
    /strategies\[1\]\.input\.task: no scores for task "seg" \(tasks with scores: det\)/);
  err(cfgOf(5, [{ input: { type: "SCORES", task: "det", score: "entrpy" }, strategy: { type: "WEIGHTS" } }]), items, /strategies\[0\]\.input\.score: .*no score "entrpy" \(its scores: entropy, margin\)/);
  err(cfgOf(5, [{ input: { type: "METADATA", key: "weather" }, strategy: { type: "WEIGHTS" } }]), items, /strategies\[0\]\.input\.key: .*"sunny", not a number/);
  err(cfgOf(5, [{ input: EMB, strategy: { type: "DIVERSITY" } }]), { filenames: ["a"] }, /strategies\[0\]\.input: EMBEDDINGS: the items have no embeddings/);
  err(cfgOf(5, [{ input: { type: "METADATA", key: "t" }, strategy: { type: "WEIGHTS" } }]), { filenames: ["a", "b"], metadata: { t: [1, -2] } }, /WEIGHTS needs values ≥ 0.*b has -2/);
  err(cfgOf(5, [{ input: { type: "EMBEDDINGS", tag_name: "nope" }, strategy: { type: "SIMILARITY" } }]), items, /input\.tag_name: no tag "nope"/);
});
