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
    const names = input.categories ?? (input.category === undefined ? null : [input.category]);
    const keep = names ? names.map((nm) => p.categories.indexOf(nm)) : null;
    return p.items.map((it) => it.categoryIds.filter((c) => !keep || keep.includes(c)).length);
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
  const only = (input as { categories?: string[] }).categories;
  return p.items.map((it) => {
    const row = new Array(C + 1).fill(0);
    const ids = it.categoryIds.filter((c) => !only || only.includes(p.categories[c]));
    for (const c of ids) {
      const k = classes.indexOf(p.categories[c]);
      row[k < 0 ? C : k] += 1 / ids.length;
    }
    return row;
  });
}

function reference(cfg: SelectionConfig, items: SelectionItems, opts: Opts = {}): number[] {
  const n = items.filenames.length;
  const want = cfg.n_samples === -1 ? n : cfg.n_samples ?? Math.floor(cfg.proportion_samples! * n);
  const sums: { v: number[]; sum: number; stopAt?: number; min?: number; max?: number }[] = [];
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
      const r = strategy.target_range;
      if (strategy.stopping_condition_max_sum !== undefined || r) sums.push({ v, sum: 0, stopAt: strategy.stopping_condition_max_sum, min: r?.min_sum, max: r?.max_sum });
    } else if (strategy.type === "TYPICALITY") {
      // The definition: 1 / mean distance to the K nearest other items, over the max of that.
      const K = Math.min(strategy.num_nearest_neighbors, n - 1);
      const inv = rows.map((a, j) => 1 / (rows.map((b, k) => (k === j ? Infinity : dist(a, b))).sort((x, y) => x - y).slice(0, K).reduce((s, d) => s + d, 0) / K));
      const top = Math.max(...inv);
      const t = inv.map((v) => v / top);
      const min = strategy.stopping_condition_minimum_typicality;
      if (min !== undefined) t.forEach((v, j) => { if (v < min) ok[j] = false; });
      scorers.push((j) => t[j] ** strategy.strength);
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
      const given = strategy.target;
      let classes: string[];
      if (given) classes = Object.keys(given);
      else if (input.type === "METADATA") classes = [...new Set(Array.from(items.metadata![input.key]).filter((v) => v !== null).map(String))].sort();
      else {
        const p = items.predictions![(input as { task: string }).task];
        const only = (input as { categories?: string[] }).categories;
        classes = only ?? p.categories.filter((_, c) => p.items.some((it) => it.categoryIds.includes(c)));
      }
      const P = refClasses(input, items, classes);
      let shares: number[];
      if (given) shares = classes.map((c) => given[c]);
      else if (strategy.distribution === "UNIFORM") shares = classes.map(() => 1 / classes.length);
      else {
        const tot = classes.map((_, k) => P.reduce((a, row) => a + row[k], 0));
        const all = tot.reduce((a, b) => a + b, 0);
        shares = tot.map((x) => x / all);
      }
      const t = [...shares, Math.max(0, 1 - shares.reduce((a, b) => a + b, 0))];
      scorers.push((j, centres) => {
        const counts = t.map((_, k) => centres.reduce((a, c) => a + P[c][k], 0));
        const m = counts.reduce((a, b) => a + b, 0);
        return (P[j].reduce((a, p, k) => a + p * Math.max(0, t[k] - counts[k] / (m + 1)), 0) + 1e-6) ** strategy.strength;
      });
    }
  }
  const selected: number[] = [];
  while (selected.length < want || sums.some((t) => t.min !== undefined && t.sum < t.min)) {
    const centres = [...pool, ...selected];
    const cands = [...Array(n).keys()].filter((j) => ok[j] && !selected.includes(j) && !sums.some((t) => t.max !== undefined && t.sum + t.v[j] > t.max));
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
    for (const t of sums) t.sum += t.v[best];
    if (sums.some((t) => t.stopAt !== undefined && t.sum >= t.stopAt)) break;
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

// ---- Lightly's other keys (issue 23) -----------------------------------------------------------------

test("TYPICALITY equals the definition on a hand-computed set", () => {
  // Points on a line at 0, 1, 2, 10 (K = 2): mean distances 1.5, 1, 1.5, 8.5 → 1/mean normalised by 1/1.
  const line: SelectionItems = { filenames: ["a", "b", "c", "d"], embeddings: Float32Array.from([0, 1, 2, 10]), dim: 1 };
  const cfg = cfgOf(4, [{ input: EMB, strategy: { type: "TYPICALITY", num_nearest_neighbors: 2 } }]);
  assert.deepEqual(runSelection(cfg, line).selected, [1, 0, 2, 3]);
  // typicality of d = 1/8.5 ≈ 0.118, of a and c = 1/1.5 ≈ 0.667: a minimum of 0.5 keeps a, b, c only.
  const stop = runSelection(cfgOf(4, [{ input: EMB, strategy: { type: "TYPICALITY", num_nearest_neighbors: 2, stopping_condition_minimum_typicality: 0.5 } }]), line);
  assert.deepEqual(stop.selected, [1, 0, 2]);
  assert.equal(stop.stoppedBy, "stopping_condition_minimum_typicality");
  const strict = runSelection(cfgOf(4, [{ input: EMB, strategy: { type: "TYPICALITY", num_nearest_neighbors: 2, stopping_condition_minimum_typicality: 0.7 } }]), line);
  assert.deepEqual(strict.selected, [1]);
});

test("TYPICALITY alone and combined (DIVERSITY, WEIGHTS, datapool) gives the reference's picks", () => {
  const base = torch.liveTensors();
  same(cfgOf(25, [{ input: EMB, strategy: { type: "TYPICALITY", num_nearest_neighbors: 5 } }]));
  same(cfgOf(25, [{ input: EMB, strategy: { type: "TYPICALITY" } }]), { normalizeEmbeddings: true });
  const combo = [{ input: EMB, strategy: { type: "DIVERSITY" } }, { input: EMB, strategy: { type: "TYPICALITY", num_nearest_neighbors: 8, strength: 2 } }];
  same(cfgOf(20, combo));
  same(cfgOf(20, combo), { datapool: items.filenames.slice(0, 6), normalizeEmbeddings: true });
  same(cfgOf(20, [...combo, { input: { type: "SCORES", task: "det", score: "entropy" }, strategy: { type: "WEIGHTS", strength: 0.5 } }]));
  same(cfgOf(-1, [{ input: EMB, strategy: { type: "TYPICALITY", num_nearest_neighbors: 4, stopping_condition_minimum_typicality: 0.6 } }]));
  assert.equal(torch.liveTensors(), base);
});

test("stopping_condition_max_sum and target_range bound the sum of the WEIGHTS input", () => {
  const count = { type: "PREDICTIONS", task: "det", name: "CATEGORY_COUNT" };
  const v = items.predictions!.det.items.map((it) => it.categoryIds.length);
  const sumOf = (sel: number[]) => sel.reduce((a, j) => a + v[j], 0);
  // max_sum alone: stops at the pick that reaches 25 objects
  const ms = runSelection(cfgOf(-1, [{ input: count, strategy: { type: "WEIGHTS", stopping_condition_max_sum: 25 } }]), items);
  assert.deepEqual(ms.selected, reference(cfgOf(-1, [{ input: count, strategy: { type: "WEIGHTS", stopping_condition_max_sum: 25 } }]), items));
  assert.equal(ms.stoppedBy, "stopping_condition_max_sum");
  assert.ok(sumOf(ms.selected) >= 25 && sumOf(ms.selected.slice(0, -1)) < 25);
  // target_range: never above max_sum; goes past n_samples until min_sum
  const tr = { type: "WEIGHTS", target_range: { min_sum: 40, max_sum: 44 } };
  const r = runSelection(cfgOf(5, [{ input: count, strategy: tr }]), items);
  assert.deepEqual(r.selected, reference(cfgOf(5, [{ input: count, strategy: tr }]), items));
  assert.ok(r.selected.length > 5 && sumOf(r.selected) >= 40 && sumOf(r.selected) <= 44, `sum ${sumOf(r.selected)}`);
  assert.deepEqual(r.sums, [{ strategy: 0, sum: sumOf(r.selected), minSum: 40, maxSum: 44, met: true }]);
  // with DIVERSITY (the general loop) and n_samples -1: stops when nothing fits under max_sum
  const both = cfgOf(-1, [{ input: EMB, strategy: { type: "DIVERSITY" } }, { input: count, strategy: { type: "WEIGHTS", strength: 0.3, target_range: { max_sum: 30 } } }]);
  const rb = runSelection(both, items);
  assert.deepEqual(rb.selected, reference(both, items));
  assert.equal(rb.stoppedBy, "target_range");
  assert.ok(sumOf(rb.selected) <= 30);
  same(cfgOf(15, [{ input: count, strategy: { type: "WEIGHTS", stopping_condition_max_sum: 12 } }, { input: { type: "METADATA", key: "weather" }, strategy: { type: "BALANCE", distribution: "UNIFORM" } }]));
});

test("BALANCE distribution UNIFORM / INPUT and input.categories give the reference's picks", () => {
  const weather = { type: "METADATA", key: "weather" };
  const uni = same(cfgOf(40, [{ input: weather, strategy: { type: "BALANCE", distribution: "UNIFORM" } }]));
  // UNIFORM = the TARGET of 1/4 each over the four values present
  assert.deepEqual(uni, runSelection(cfgOf(40, [{ input: weather, strategy: { type: "BALANCE", target: { fog: 0.25, rainy: 0.25, snow: 0.25, sunny: 0.25 } } }]), items).selected);
  same(cfgOf(40, [{ input: weather, strategy: { type: "BALANCE", distribution: "INPUT" } }]));
  same(cfgOf(30, [{ input: EMB, strategy: { type: "DIVERSITY" } }, { input: weather, strategy: { type: "BALANCE", distribution: "INPUT" } }]), { datapool: items.filenames.slice(10, 20) });
  const pred = { type: "PREDICTIONS", task: "det", name: "CLASS_DISTRIBUTION", categories: ["bus", "bike"] };
  same(cfgOf(30, [{ input: pred, strategy: { type: "BALANCE", distribution: "UNIFORM" } }]));
  same(cfgOf(30, [{ input: pred, strategy: { type: "BALANCE", target: { bus: 0.7 } } }]));
  same(cfgOf(20, [{ input: { type: "PREDICTIONS", task: "det", name: "CATEGORY_COUNT", categories: ["car", "bike"] }, strategy: { type: "WEIGHTS" } }]));
  assert.throws(() => runSelection(cfgOf(5, [{ input: { ...pred, categories: ["bus", "tram"] }, strategy: { type: "BALANCE", distribution: "UNIFORM" } }]), items),
    /strategies\[0\]\.input\.categories: task "det" has no category "tram"/);
});

test("n_samples -1 selects until a stopping condition or no sample is left", () => {
  const all = runSelection(cfgOf(-1, [{ input: { type: "SCORES", task: "det", score: "entropy" }, strategy: { type: "THRESHOLD", threshold: 0.5, operation: "BIGGER" } }, { input: EMB, strategy: { type: "DIVERSITY" } }]), items);
  assert.equal(all.selected.length, Array.from(items.scores!.det.entropy).filter((x) => x > 0.5).length);
  assert.equal(all.stoppedBy, "no_candidates_left");
  assert.equal(all.requested, -1);
  const md = cfgOf(-1, [{ input: EMB, strategy: { type: "DIVERSITY", stopping_condition_minimum_distance: 1.2 } }]);
  const r = runSelection(md, items);
  assert.deepEqual(r.selected, reference(md, items));
  assert.equal(r.stoppedBy, "stopping_condition_minimum_distance");
});
