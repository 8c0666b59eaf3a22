// selection_config: Lightly's input×strategy table (docs.lightly.ai "Input and Strategy Combinations")
// is enforced, and every bad key/value gets an error naming strategies[i].field, what was given and
// what is allowed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseSelectionConfig, SelectionConfigError, VALID_COMBINATIONS, STRATEGY_TYPES } from "../src/config/selection-config.js";

const messages = (obj: unknown): string[] => {
  try {
    parseSelectionConfig(obj);
  } catch (e) {
    assert.ok(e instanceof SelectionConfigError, `expected SelectionConfigError, got ${e}`);
    return e.issues.map((i) => `${i.path}: ${i.message}`);
  }
  assert.fail("expected the config to be refused");
};
const one = (input: object, strategy: object, extra: object = { n_samples: 10 }) => ({ ...extra, strategies: [{ input, strategy }] });

const INPUTS: Record<string, object> = {
  EMBEDDINGS: { type: "EMBEDDINGS" },
  SCORES: { type: "SCORES", task: "t", score: "s" },
  METADATA: { type: "METADATA", key: "k" },
  "PREDICTIONS CATEGORY_COUNT": { type: "PREDICTIONS", task: "t", name: "CATEGORY_COUNT" },
  "PREDICTIONS CLASS_DISTRIBUTION": { type: "PREDICTIONS", task: "t", name: "CLASS_DISTRIBUTION" },
  RANDOM: { type: "RANDOM", random_seed: 4 },
};
const STRATEGIES: Record<string, object> = {
  DIVERSITY: { type: "DIVERSITY" },
  WEIGHTS: { type: "WEIGHTS" },
  THRESHOLD: { type: "THRESHOLD", threshold: 0.5, operation: "BIGGER" },
  BALANCE: { type: "BALANCE", target: { a: 0.5 } },
  SIMILARITY: { type: "SIMILARITY" },
  TYPICALITY: { type: "TYPICALITY" },
};

test("exactly Lightly's input × strategy combinations are accepted", () => {
  // Lightly's table, restated: Embeddings → Diversity, Similarity; Metadata → Weights, Threshold, Balance;
  // Category count, Random, Scores → Weights, Threshold; Class distribution → Balance.
  const lightly: Record<string, string[]> = {
    EMBEDDINGS: ["DIVERSITY", "SIMILARITY", "TYPICALITY"], METADATA: ["WEIGHTS", "THRESHOLD", "BALANCE"], "PREDICTIONS CATEGORY_COUNT": ["WEIGHTS", "THRESHOLD"],
    "PREDICTIONS CLASS_DISTRIBUTION": ["BALANCE"], RANDOM: ["WEIGHTS", "THRESHOLD"], SCORES: ["WEIGHTS", "THRESHOLD"],
  };
  assert.deepEqual(Object.fromEntries(Object.entries(VALID_COMBINATIONS).map(([k, v]) => [k, [...v].sort()])), Object.fromEntries(Object.entries(lightly).map(([k, v]) => [k, [...v].sort()])));
  let accepted = 0;
  for (const [ik, input] of Object.entries(INPUTS)) {
    for (const st of STRATEGY_TYPES) {
      const inp = st === "SIMILARITY" && ik === "EMBEDDINGS" ? { ...input, tag_name: "query" } : input;
      const cfg = one(inp, STRATEGIES[st]);
      if (lightly[ik].includes(st)) {
        const parsed = parseSelectionConfig(cfg);
        assert.equal(parsed.strategies[0].strategy.type, st);
        accepted++;
      } else {
        const m = messages(cfg);
        assert.equal(m.length, 1, m.join("\n"));
        assert.match(m[0], new RegExp(`^selection_config\\.strategies\\[0\\]\\.strategy\\.type: got ${st}, which does not work with input ${ik.replace(" ", " with name ")}; allowed with it: ${lightly[ik].join(", ")}$`));
      }
    }
  }
  assert.equal(accepted, 13);
});

test("defaults, and the index of the failing strategy in the path", () => {
  const c = parseSelectionConfig({ proportion_samples: 0.3, strategies: [{ input: { type: "RANDOM" }, strategy: { type: "WEIGHTS" } }, { input: { type: "EMBEDDINGS" }, strategy: { type: "DIVERSITY" } }] });
  assert.deepEqual(c, {
    proportion_samples: 0.3,
    strategies: [{ input: { type: "RANDOM", random_seed: 0 }, strategy: { type: "WEIGHTS", strength: 1 } }, { input: { type: "EMBEDDINGS" }, strategy: { type: "DIVERSITY", strength: 1 } }],
  });
  const m = messages({ n_samples: 5, strategies: [{ input: { type: "EMBEDDINGS" }, strategy: { type: "DIVERSITY" } }, { input: { type: "SCORES", task: "t", score: "s" }, strategy: { type: "BALANCE", target: { a: 1 } } }] });
  assert.deepEqual(m, ["selection_config.strategies[1].strategy.type: got BALANCE, which does not work with input SCORES; allowed with it: WEIGHTS, THRESHOLD"]);
});

test("bad keys and values: path, what was given, what is allowed, did you mean", () => {
  const cases: [unknown, RegExp][] = [
    [{ strategies: [{ input: INPUTS.EMBEDDINGS, strategy: STRATEGIES.DIVERSITY }] }, /^selection_config: got neither n_samples nor proportion_samples; allowed: exactly one of them$/],
    [{ n_samples: 3, proportion_samples: 0.5, strategies: [{ input: INPUTS.EMBEDDINGS, strategy: STRATEGIES.DIVERSITY }] }, /^selection_config: got both n_samples \(3\) and proportion_samples \(0\.5\)/],
    [one(INPUTS.EMBEDDINGS, STRATEGIES.DIVERSITY, { n_samples: 0 }), /^selection_config\.n_samples: got 0; allowed: an integer in \[1, 100000000\], or -1 \(no limit: only stopping conditions end the selection\)$/],
    [one(INPUTS.EMBEDDINGS, STRATEGIES.DIVERSITY, { n_samples: 2.5 }), /^selection_config\.n_samples: got 2\.5; allowed: an integer in \[1, 100000000\], or -1 \(no limit: only stopping conditions end the selection\)$/],
    [one(INPUTS.EMBEDDINGS, STRATEGIES.DIVERSITY, { proportion_samples: 1.5 }), /^selection_config\.proportion_samples: got 1\.5; allowed: a number in \(0, 1\]$/],
    [one(INPUTS.EMBEDDINGS, STRATEGIES.DIVERSITY, { nsamples: 3 }), /^selection_config\.nsamples: unknown key — did you mean 'n_samples'\?/],
    [{ n_samples: 3, strategies: [] }, /^selection_config\.strategies: got a list of 0; allowed: a non-empty list of \{ input, strategy \}$/],
    [{ n_samples: 3, strategies: [{ input: INPUTS.EMBEDDINGS, strategy: STRATEGIES.DIVERSITY, inputs: 2 }] }, /^selection_config\.strategies\[0\]\.inputs: unknown key — did you mean 'input'\?/],
    [one({ type: "EMBEDING" }, STRATEGIES.DIVERSITY), /^selection_config\.strategies\[0\]\.input\.type: got the string "EMBEDING" — did you mean 'EMBEDDINGS'\?; allowed: EMBEDDINGS, SCORES, METADATA, PREDICTIONS, RANDOM$/],
    [one(INPUTS.EMBEDDINGS, { type: "diversity" }), /^selection_config\.strategies\[0\]\.strategy\.type: got the string "diversity" — did you mean 'DIVERSITY'\?/],
    [one(INPUTS.EMBEDDINGS, { type: "DIVERSITY", strenght: 2 }), /^selection_config\.strategies\[0\]\.strategy\.strenght: unknown key — did you mean 'strength'\? \(allowed at selection_config\.strategies\[0\]\.strategy: type, stopping_condition_minimum_distance, strength\)$/],
    [one(INPUTS.EMBEDDINGS, { type: "DIVERSITY", stopping_condition_minimum_distance: -1 }), /^selection_config\.strategies\[0\]\.strategy\.stopping_condition_minimum_distance: got -1; allowed: a number ≥ 0$/],
    [one(INPUTS.EMBEDDINGS, { type: "DIVERSITY", strength: "high" }), /strategy\.strength: got the string "high"; allowed: a finite number/],
    [one({ type: "SCORES", task: "t" }, STRATEGIES.WEIGHTS), /^selection_config\.strategies\[0\]\.input\.score: required, got nothing; allowed: a score name/],
    [one({ type: "METADATA" }, STRATEGIES.WEIGHTS), /input\.key: required, got nothing/],
    [one({ type: "PREDICTIONS", task: "t", name: "CLASS_DISTRIBUTIONS" }, STRATEGIES.BALANCE), /input\.name: got the string "CLASS_DISTRIBUTIONS" — did you mean 'CLASS_DISTRIBUTION'\?; allowed: CLASS_DISTRIBUTION, CATEGORY_COUNT$/],
    [one({ type: "RANDOM", random_seed: -1 }, STRATEGIES.WEIGHTS), /input\.random_seed: got -1; allowed: an integer in \[0, 2\^32 - 1\]/],
    [one(INPUTS.SCORES, { type: "THRESHOLD", threshold: 1 }), /strategy\.operation: required, got nothing; allowed: SMALLER, SMALLER_EQUAL, BIGGER, BIGGER_EQUAL$/],
    [one(INPUTS.SCORES, { type: "THRESHOLD", threshold: 1, operation: ">" }), /strategy\.operation: got the string ">"; allowed: SMALLER/],
    [one(INPUTS.SCORES, { type: "THRESHOLD", operation: "BIGGER" }), /strategy\.threshold: required, got nothing; allowed: a finite number$/],
    [one(INPUTS.METADATA, { type: "BALANCE", target: { a: 0.7, b: 0.5 } }), /^selection_config\.strategies\[0\]\.strategy\.target: fractions sum to 1\.2; allowed: a sum ≤ 1$/],
    [one(INPUTS.METADATA, { type: "BALANCE", target: { a: 1.5 } }), /strategy\.target: got a mapping; allowed: a mapping class → fraction in \[0, 1\]/],
    [one(INPUTS.METADATA, { type: "BALANCE", target: {} }), /strategy\.target: got a mapping; allowed/],
    [one(INPUTS.EMBEDDINGS, STRATEGIES.SIMILARITY), /strategy\.type: SIMILARITY needs the query samples: set input\.tag_name or input\.filenames$/],
    [one({ type: "EMBEDDINGS", tag_name: "q" }, STRATEGIES.DIVERSITY), /DIVERSITY takes none$/],
    [{ n_samples: 3, strategies: [{ strategy: STRATEGIES.WEIGHTS }] }, /^selection_config\.strategies\[0\]\.input: got nothing; allowed: a mapping with a type/],
    [[1, 2], /^selection_config: got a list of 2; allowed: a mapping/],
  ];
  for (const [cfg, re] of cases) {
    const m = messages(cfg);
    assert.ok(m.some((x) => re.test(x)), `expected ${re}, got:\n${m.join("\n")}`);
  }
  // every problem at once
  const all = messages({ n_sample: 3, strategies: [{ input: { type: "SCORES" }, strategy: { type: "DIVERSE" } }] });
  assert.equal(all.length, 5, all.join("\n")); // unknown key, neither n nor proportion, task, score, strategy.type
});

test("issue 23 keys: TYPICALITY, max_sum, target_range, distribution, categories, n_samples -1", () => {
  const ok = parseSelectionConfig(one({ type: "EMBEDDINGS" }, { type: "TYPICALITY" }, { n_samples: -1 }));
  assert.equal(ok.n_samples, -1);
  assert.deepEqual(ok.strategies[0].strategy, { type: "TYPICALITY", num_nearest_neighbors: 20, strength: 1 });
  const b = parseSelectionConfig(one({ type: "METADATA", key: "w" }, { type: "BALANCE", distribution: "UNIFORM" }));
  assert.equal((b.strategies[0].strategy as { distribution: string }).distribution, "UNIFORM");
  parseSelectionConfig(one({ type: "PREDICTIONS", task: "t", name: "CATEGORY_COUNT", categories: ["a", "b"] }, { type: "WEIGHTS", stopping_condition_max_sum: 10, target_range: { min_sum: 2, max_sum: 9 } }));
  const bad = (input: object, strategy: object, extra?: object) => messages(one(input, strategy, extra)).join("\n");
  assert.match(bad({ type: "EMBEDDINGS" }, { type: "TYPICALITY", num_nearest_neighbors: 1 }), /strategies\[0\]\.strategy\.num_nearest_neighbors: got 1; allowed: an integer in \[2, 10000\]/);
  assert.match(bad({ type: "EMBEDDINGS" }, { type: "TYPICALITY", stopping_condition_minimum_typicality: 0 }), /stopping_condition_minimum_typicality: got 0; allowed: a number in \(0, 1\]/);
  assert.match(bad({ type: "EMBEDDINGS", tag_name: "q" }, { type: "TYPICALITY" }), /TYPICALITY takes none/);
  assert.match(bad({ type: "SCORES", task: "t", score: "s" }, { type: "WEIGHTS", target_range: { min_sum: 5, max_sum: 1 } }), /strategy\.target_range: got a mapping; allowed: .*max_sum ≥ min_sum/);
  assert.match(bad({ type: "SCORES", task: "t", score: "s" }, { type: "WEIGHTS", stopping_condition_max_sum: -1 }), /stopping_condition_max_sum: got -1/);
  assert.match(bad({ type: "SCORES", task: "t", score: "s" }, { type: "THRESHOLD", threshold: 1, operation: "BIGGER", stopping_condition_max_sum: 3 }), /strategy\.stopping_condition_max_sum: unknown key/);
  assert.match(bad({ type: "METADATA", key: "w" }, { type: "BALANCE" }), /strategy\.target: required with distribution TARGET/);
  assert.match(bad({ type: "METADATA", key: "w" }, { type: "BALANCE", distribution: "INPUT", target: { a: 1 } }), /strategy\.target: given with distribution INPUT/);
  assert.match(bad({ type: "METADATA", key: "w" }, { type: "BALANCE", distribution: "uniform" }), /distribution: got the string "uniform" — did you mean 'UNIFORM'\?/);
  assert.match(bad({ type: "PREDICTIONS", task: "t", name: "CATEGORY_COUNT", categories: ["a", "a"] }, { type: "WEIGHTS" }), /input\.categories: got a list of 2; allowed: a non-empty list of distinct/);
  assert.match(bad({ type: "PREDICTIONS", task: "t", name: "CATEGORY_COUNT", categories: ["a"], category: "a" }, { type: "WEIGHTS" }), /input\.categories: given with input\.category/);
  assert.match(bad({ type: "EMBEDDINGS" }, { type: "DIVERSITY" }, { n_samples: 0 }), /n_samples: got 0; allowed: an integer in \[1, 100000000\], or -1/);
  assert.match(bad({ type: "EMBEDDINGS" }, { type: "DIVERSITY" }, { n_samples: -2 }), /n_samples: got -2/);
});
