// selection_config: which samples a run selects, with Lightly's keys and meaning (docs.lightly.ai:
// "Selection", "Selection Input", "Selection Strategies", "Input and Strategy Combinations").
//
//   selection_config:
//     n_samples: 1000                 # or proportion_samples: 0.1 (exactly one of the two)
//     strategies:
//       - input:    { type: EMBEDDINGS }
//         strategy: { type: DIVERSITY, stopping_condition_minimum_distance: 0.2, strength: 1 }
//       - input:    { type: SCORES, task: my_task, score: uncertainty_entropy }
//         strategy: { type: WEIGHTS, strength: 0.5 }
//       - input:    { type: METADATA, key: lightly.sharpness }
//         strategy: { type: THRESHOLD, threshold: 20, operation: BIGGER }
//       - input:    { type: PREDICTIONS, task: weather, name: CLASS_DISTRIBUTION }
//         strategy: { type: BALANCE, target: { sunny: 0.5, rainy: 0.3 } }
//
// One zod schema (`selectionConfigSchema`) is the type and the defaults; `parseSelectionConfig`
// walks the raw object first so every error names its place (selection_config.strategies[1].input.type),
// what was given and what is allowed, with a "did you mean" for misspelt keys and values, and refuses
// input×strategy pairs that Lightly's combination table does not allow.
// No engine import: configs are checked before anything starts.
// One idea at ~420 lines: the selection_config schema, its key table and the walk that explains what is wrong.
import { z } from "zod";
import { suggestKey, type ConfigIssue } from "./lightly-config.js";
import { SelectionConfigError } from "./config-error.js";

// ---- vocabulary --------------------------------------------------------------------------------------

export const INPUT_TYPES = ["EMBEDDINGS", "SCORES", "METADATA", "PREDICTIONS", "RANDOM"] as const;
export const STRATEGY_TYPES = ["DIVERSITY", "WEIGHTS", "THRESHOLD", "BALANCE", "SIMILARITY", "TYPICALITY"] as const;
export const BALANCE_DISTRIBUTIONS = ["TARGET", "UNIFORM", "INPUT"] as const;
/** Metadata the worker computes itself (src/run/lightly-metadata.ts); other `lightly.*` keys are config errors. */
export const LIGHTLY_METADATA_KEYS = ["lightly.sharpness", "lightly.snr", "lightly.sizeInBytes", "lightly.width", "lightly.height"] as const;
/** TYPICALITY's default number of neighbours (Lightly's API leaves it to the worker; Winnow's choice). */
export const DEFAULT_TYPICALITY_NEIGHBORS = 20;
export const PREDICTION_NAMES = ["CLASS_DISTRIBUTION", "CATEGORY_COUNT"] as const;
export const THRESHOLD_OPERATIONS = ["SMALLER", "SMALLER_EQUAL", "BIGGER", "BIGGER_EQUAL"] as const;
export type InputType = (typeof INPUT_TYPES)[number];
export type StrategyType = (typeof STRATEGY_TYPES)[number];

/**
 * Lightly's table of valid input × strategy pairs. PREDICTIONS splits by `name`: CATEGORY_COUNT is a
 * number per sample, CLASS_DISTRIBUTION a distribution over classes. METADATA works with WEIGHTS and
 * THRESHOLD when numeric, with BALANCE when categorical (checked against the values at run time).
 */
export const VALID_COMBINATIONS: Record<string, readonly StrategyType[]> = {
  EMBEDDINGS: ["DIVERSITY", "SIMILARITY", "TYPICALITY"],
  SCORES: ["WEIGHTS", "THRESHOLD"],
  METADATA: ["WEIGHTS", "THRESHOLD", "BALANCE"],
  "PREDICTIONS CATEGORY_COUNT": ["WEIGHTS", "THRESHOLD"],
  "PREDICTIONS CLASS_DISTRIBUTION": ["BALANCE"],
  RANDOM: ["WEIGHTS", "THRESHOLD"],
};

// ---- leaves ------------------------------------------------------------------------------------------

interface LeafSpec {
  schema: z.ZodType;
  required: boolean;
  allowed: string;
  description: string;
  /** Enum values, for "did you mean" when the schema wraps the enum (a default). */
  values?: readonly string[];
}
const name = () => z.string().min(1).max(4096);
const finite = () => z.number().min(-Number.MAX_VALUE).max(Number.MAX_VALUE);
const strength: LeafSpec = {
  schema: finite().default(1),
  required: false,
  allowed: "a finite number (default 1; negative inverts the strategy's preference, 0 turns it off)",
  description: "Exponent of this strategy's score in the product of all strategies' scores.",
};
const typeLeaf = (v: string, all: readonly string[]): LeafSpec => ({
  schema: z.literal(v),
  required: true,
  allowed: all.join(", "),
  description: "Kind of input/strategy.",
});

/** Keys of each input type (`type` included). */
const INPUT_SPECS: Record<InputType, Record<string, LeafSpec>> = {
  EMBEDDINGS: {
    type: typeLeaf("EMBEDDINGS", INPUT_TYPES),
    task: { schema: name().optional(), required: false, allowed: "a prediction task name", description: "Object-level: use the embeddings of this detection task's object crops instead of whole images." },
    dataset_id: { schema: name().optional(), required: false, allowed: "a string", description: "SIMILARITY: dataset of the query samples (Winnow: accepted, the query comes from tag_name/filenames)." },
    tag_name: { schema: name().optional(), required: false, allowed: "a tag name", description: "SIMILARITY: the tag whose samples are the query." },
    filenames: { schema: z.array(name()).min(1).optional(), required: false, allowed: "a non-empty list of filenames", description: "SIMILARITY (Winnow): the query samples, by filename." },
  },
  SCORES: {
    type: typeLeaf("SCORES", INPUT_TYPES),
    task: { schema: name(), required: true, allowed: "a prediction task name", description: "Task whose active-learning scores are used." },
    score: { schema: name(), required: true, allowed: "a score name, e.g. uncertainty_entropy", description: "Which score of the task." },
  },
  METADATA: {
    type: typeLeaf("METADATA", INPUT_TYPES),
    key: { schema: name(), required: true, allowed: "a metadata key, e.g. lightly.sharpness", description: "Metadata field (numeric for WEIGHTS/THRESHOLD, categorical for BALANCE)." },
  },
  PREDICTIONS: {
    type: typeLeaf("PREDICTIONS", INPUT_TYPES),
    task: { schema: name(), required: true, allowed: "a prediction task name", description: "Task whose predictions are used." },
    name: { schema: z.enum(PREDICTION_NAMES), required: true, allowed: PREDICTION_NAMES.join(", "), description: "CLASS_DISTRIBUTION: the classes of each sample (for BALANCE); CATEGORY_COUNT: number of predicted objects." },
    category: { schema: name().optional(), required: false, allowed: "a category name", description: "CATEGORY_COUNT (Winnow): count only objects of this category (default: all objects)." },
    categories: {
      schema: z.array(name()).min(1).refine((a) => new Set(a).size === a.length).optional(),
      required: false,
      allowed: "a non-empty list of distinct category names",
      description: "Only objects of these categories count (CATEGORY_COUNT counts them; CLASS_DISTRIBUTION ignores the others; BALANCE UNIFORM spreads over them).",
    },
  },
  RANDOM: {
    type: typeLeaf("RANDOM", INPUT_TYPES),
    random_seed: { schema: z.number().int().min(0).max(2 ** 32 - 1).default(0), required: false, allowed: "an integer in [0, 2^32 - 1]", description: "Seed of the uniform random value in [0, 1) drawn per sample." },
  },
};

const STRATEGY_SPECS: Record<StrategyType, Record<string, LeafSpec>> = {
  DIVERSITY: {
    type: typeLeaf("DIVERSITY", STRATEGY_TYPES),
    stopping_condition_minimum_distance: {
      schema: z.number().min(0).max(Number.MAX_VALUE).optional(),
      required: false,
      allowed: "a number ≥ 0",
      description: "Stop once no remaining sample is at least this far (Euclidean) from every selected sample.",
    },
    strength,
  },
  WEIGHTS: {
    type: typeLeaf("WEIGHTS", STRATEGY_TYPES),
    strength,
    stopping_condition_max_sum: {
      schema: z.number().min(0).max(Number.MAX_VALUE).optional(),
      required: false,
      allowed: "a number ≥ 0",
      description: "Stop once the sum of the selected samples' input values reaches this (the pick that reaches it is kept).",
    },
    target_range: {
      schema: z.strictObject({ min_sum: z.number().min(0).max(Number.MAX_VALUE).optional(), max_sum: z.number().min(0).max(Number.MAX_VALUE).optional() })
        .refine((r) => r.min_sum === undefined || r.max_sum === undefined || r.max_sum >= r.min_sum).optional(),
      required: false,
      allowed: "a mapping { min_sum, max_sum } of numbers ≥ 0 with max_sum ≥ min_sum",
      description: "The sum of the selected samples' input values stays ≤ max_sum (samples that would pass it are skipped) and selection goes on past n_samples until it is ≥ min_sum.",
    },
  },
  THRESHOLD: {
    type: typeLeaf("THRESHOLD", STRATEGY_TYPES),
    threshold: { schema: finite(), required: true, allowed: "a finite number", description: "Samples whose value fails the comparison are never selected." },
    operation: { schema: z.enum(THRESHOLD_OPERATIONS), required: true, allowed: THRESHOLD_OPERATIONS.join(", "), description: "value <op> threshold must hold for a sample to stay." },
  },
  BALANCE: {
    type: typeLeaf("BALANCE", STRATEGY_TYPES),
    target: {
      schema: z.record(z.string().min(1), z.number().min(0).max(1)).refine((t) => Object.keys(t).length > 0).optional(),
      required: false,
      allowed: "a mapping class → fraction in [0, 1], at least one class, fractions summing to ≤ 1",
      description: "Target share of each class among the selected samples; the rest (1 - sum) is shared by all other classes. Required with distribution TARGET.",
    },
    distribution: {
      schema: z.enum(BALANCE_DISTRIBUTIONS).default("TARGET"),
      required: false,
      allowed: BALANCE_DISTRIBUTIONS.join(", "),
      values: BALANCE_DISTRIBUTIONS,
      description: "TARGET: the target shares; UNIFORM: every class (input.categories, else every class present) the same share; INPUT: the shares the classes have among all input samples.",
    },
    strength,
  },
  SIMILARITY: { type: typeLeaf("SIMILARITY", STRATEGY_TYPES), strength },
  TYPICALITY: {
    type: typeLeaf("TYPICALITY", STRATEGY_TYPES),
    num_nearest_neighbors: {
      schema: z.number().int().min(2).max(10_000).default(DEFAULT_TYPICALITY_NEIGHBORS),
      required: false,
      allowed: "an integer in [2, 10000] (default 20)",
      description: "K: typicality is 1 / (mean Euclidean distance to the K nearest other samples), normalised to a maximum of 1.",
    },
    stopping_condition_minimum_typicality: {
      schema: z.number().gt(0).max(1).optional(),
      required: false,
      allowed: "a number in (0, 1]",
      description: "Samples whose (normalised) typicality is below this are never selected; the selection stops when none else is left.",
    },
    strength,
  },
};

// ---- the zod schema (types and defaults) -----------------------------------------------------------------

const objOf = (specs: Record<string, LeafSpec>) =>
  z.strictObject(Object.fromEntries(Object.entries(specs).map(([k, s]) => [k, s.schema.meta({ allowed: s.allowed, description: s.description })])));

const inputSchema = z.discriminatedUnion("type", [
  objOf(INPUT_SPECS.EMBEDDINGS) as z.ZodObject<{ type: z.ZodLiteral<"EMBEDDINGS">; task: z.ZodOptional<z.ZodString>; dataset_id: z.ZodOptional<z.ZodString>; tag_name: z.ZodOptional<z.ZodString>; filenames: z.ZodOptional<z.ZodArray<z.ZodString>> }>,
  objOf(INPUT_SPECS.SCORES) as z.ZodObject<{ type: z.ZodLiteral<"SCORES">; task: z.ZodString; score: z.ZodString }>,
  objOf(INPUT_SPECS.METADATA) as z.ZodObject<{ type: z.ZodLiteral<"METADATA">; key: z.ZodString }>,
  objOf(INPUT_SPECS.PREDICTIONS) as z.ZodObject<{ type: z.ZodLiteral<"PREDICTIONS">; task: z.ZodString; name: z.ZodEnum<{ CLASS_DISTRIBUTION: "CLASS_DISTRIBUTION"; CATEGORY_COUNT: "CATEGORY_COUNT" }>; category: z.ZodOptional<z.ZodString>; categories: z.ZodOptional<z.ZodArray<z.ZodString>> }>,
  objOf(INPUT_SPECS.RANDOM) as z.ZodObject<{ type: z.ZodLiteral<"RANDOM">; random_seed: z.ZodDefault<z.ZodNumber> }>,
]);

type Op = (typeof THRESHOLD_OPERATIONS)[number];
const strategySchema = z.discriminatedUnion("type", [
  objOf(STRATEGY_SPECS.DIVERSITY) as z.ZodObject<{ type: z.ZodLiteral<"DIVERSITY">; stopping_condition_minimum_distance: z.ZodOptional<z.ZodNumber>; strength: z.ZodDefault<z.ZodNumber> }>,
  objOf(STRATEGY_SPECS.WEIGHTS) as z.ZodObject<{
    type: z.ZodLiteral<"WEIGHTS">; strength: z.ZodDefault<z.ZodNumber>; stopping_condition_max_sum: z.ZodOptional<z.ZodNumber>;
    target_range: z.ZodOptional<z.ZodObject<{ min_sum: z.ZodOptional<z.ZodNumber>; max_sum: z.ZodOptional<z.ZodNumber> }>>;
  }>,
  objOf(STRATEGY_SPECS.THRESHOLD) as z.ZodObject<{ type: z.ZodLiteral<"THRESHOLD">; threshold: z.ZodNumber; operation: z.ZodEnum<{ [K in Op]: K }> }>,
  objOf(STRATEGY_SPECS.BALANCE) as z.ZodObject<{
    type: z.ZodLiteral<"BALANCE">; target: z.ZodOptional<z.ZodRecord<z.ZodString, z.ZodNumber>>; strength: z.ZodDefault<z.ZodNumber>;
    distribution: z.ZodDefault<z.ZodEnum<{ [K in (typeof BALANCE_DISTRIBUTIONS)[number]]: K }>>;
  }>,
  objOf(STRATEGY_SPECS.SIMILARITY) as z.ZodObject<{ type: z.ZodLiteral<"SIMILARITY">; strength: z.ZodDefault<z.ZodNumber> }>,
  objOf(STRATEGY_SPECS.TYPICALITY) as z.ZodObject<{
    type: z.ZodLiteral<"TYPICALITY">; num_nearest_neighbors: z.ZodDefault<z.ZodNumber>; stopping_condition_minimum_typicality: z.ZodOptional<z.ZodNumber>; strength: z.ZodDefault<z.ZodNumber>;
  }>,
]);

/** Upper bound of n_samples: far above any dataset a worker holds, low enough that no count overflows. */
export const N_SAMPLES_MAX = 100_000_000;

const TOP_SPECS: Record<string, { allowed: string; description: string }> = {
  n_samples: { allowed: "an integer in [1, 100000000], or -1 (no limit: only stopping conditions end the selection)", description: "Number of samples to select in this run (datapool samples not counted); -1 selects until a stopping condition holds or no sample is left." },
  proportion_samples: { allowed: "a number in (0, 1]", description: "Fraction of the input samples to select (floor(proportion × number of samples))." },
  strategies: { allowed: "a non-empty list of { input, strategy }", description: "The selection objectives; THRESHOLD filters first, the others are combined by product." },
};

export const selectionConfigSchema = z
  .strictObject({
    n_samples: z.number().int().min(-1).max(N_SAMPLES_MAX).refine((n) => n !== 0).optional().meta(TOP_SPECS.n_samples),
    proportion_samples: z.number().gt(0).max(1).optional().meta(TOP_SPECS.proportion_samples),
    strategies: z.array(z.strictObject({ input: inputSchema, strategy: strategySchema })).min(1).meta(TOP_SPECS.strategies),
  })
  .superRefine((c, ctx) => {
    if ((c.n_samples === undefined) === (c.proportion_samples === undefined)) {
      ctx.addIssue({ code: "custom", path: [], message: "exactly one of n_samples and proportion_samples is required" });
    }
    c.strategies.forEach((s, i) => {
      const bad = combinationError(s.input as SelectionInput, s.strategy.type);
      if (bad) ctx.addIssue({ code: "custom", path: ["strategies", i, "strategy", "type"], message: bad });
      for (const e of entryIssues(s.input as Record<string, unknown>, s.strategy as Record<string, unknown>, "")) ctx.addIssue({ code: "custom", path: ["strategies", i], message: `${e.path.slice(1)}: ${e.message}` });
    });
  });

/** The parsed selection_config (strengths and seeds filled in). */
export type SelectionConfig = z.output<typeof selectionConfigSchema>;
export type SelectionConfigInput = z.input<typeof selectionConfigSchema>;
export type SelectionStrategyEntry = SelectionConfig["strategies"][number];
export type SelectionInput = SelectionStrategyEntry["input"];
export type SelectionStrategy = SelectionStrategyEntry["strategy"];

/** The key of VALID_COMBINATIONS for an input. */
export function combinationKey(input: { type: string; name?: string }): string {
  return input.type === "PREDICTIONS" ? `PREDICTIONS ${input.name}` : input.type;
}

/**
 * Rules between keys of one entry (on the raw or the parsed object): BALANCE's target goes with
 * distribution TARGET only; `category` and `categories` exclude each other.
 */
function entryIssues(input: Record<string, unknown>, strategy: Record<string, unknown>, at: string): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  if (strategy.type === "BALANCE") {
    const dist = strategy.distribution ?? "TARGET";
    if (dist === "TARGET" && strategy.target === undefined) out.push({ path: `${at}.strategy.target`, message: "required with distribution TARGET (the default), got nothing; allowed: a mapping class → fraction, or distribution UNIFORM / INPUT" });
    if (dist !== "TARGET" && strategy.target !== undefined) out.push({ path: `${at}.strategy.target`, message: `given with distribution ${String(dist)}, which sets the shares itself; allowed: drop target, or distribution TARGET` });
  }
  if (input.type === "METADATA" && typeof input.key === "string" && input.key.startsWith("lightly.") && !(LIGHTLY_METADATA_KEYS as readonly string[]).includes(input.key)) {
    const s = suggestKey(input.key, [...LIGHTLY_METADATA_KEYS]);
    out.push({ path: `${at}.input.key`, message: `${JSON.stringify(input.key)} is not metadata the worker computes${s ? ` — did you mean '${s}'?` : ""} (lightly.* keys: ${LIGHTLY_METADATA_KEYS.join(", ")})` });
  }
  if (input.category !== undefined && input.categories !== undefined) out.push({ path: `${at}.input.categories`, message: "given with input.category; allowed: one of the two (categories: [\"a\"] is category: \"a\")" });
  return out;
}

/** Why this input cannot go with this strategy (null when it can). */
function combinationError(input: { type: string; name?: string; tag_name?: string; filenames?: string[] }, strategy: string): string | null {
  const key = combinationKey(input);
  const ok = VALID_COMBINATIONS[key];
  if (!ok) return null;
  const label = input.type === "PREDICTIONS" ? `input PREDICTIONS with name ${input.name}` : `input ${input.type}`;
  if (!ok.includes(strategy as StrategyType)) return `got ${strategy}, which does not work with ${label}; allowed with it: ${ok.join(", ")}`;
  if (input.type === "EMBEDDINGS") {
    const query = input.tag_name !== undefined || input.filenames !== undefined;
    if (strategy === "SIMILARITY" && !query) return "SIMILARITY needs the query samples: set input.tag_name or input.filenames";
    if ((strategy === "DIVERSITY" || strategy === "TYPICALITY") && query) return `input.tag_name/filenames name a SIMILARITY query; ${strategy} takes none`;
  }
  return null;
}

// ---- errors -----------------------------------------------------------------------------------------------

export { SelectionConfigError };

function show(v: unknown): string {
  if (v === undefined) return "nothing";
  if (typeof v === "string") return `the string ${JSON.stringify(v)}`;
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (v !== null && typeof v === "object") return "a mapping";
  return String(v);
}
const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/** The closest allowed value (case and dashes forgiven), for "did you mean". */
function suggestValue(v: unknown, allowed: readonly string[]): string | null {
  if (typeof v !== "string") return null;
  const up = v.toUpperCase().replace(/[-\s]/g, "_");
  if (allowed.includes(up)) return up;
  const s = suggestKey(up.toLowerCase(), allowed.map((a) => a.toLowerCase()));
  return s ? s.toUpperCase() : null;
}

/** Checks one mapping against its leaf specs; pushes issues; returns nothing (zod then builds the value). */
function checkLeaves(obj: Record<string, unknown>, specs: Record<string, LeafSpec>, path: string, out: ConfigIssue[]): void {
  const allowedKeys = Object.keys(specs);
  for (const k of Object.keys(obj)) {
    if (k in specs) continue;
    const s = suggestKey(k, allowedKeys);
    out.push({ path: `${path}.${k}`, message: `unknown key${s ? ` — did you mean '${s}'?` : ""} (allowed at ${path}: ${allowedKeys.join(", ")})` });
  }
  for (const [k, spec] of Object.entries(specs)) {
    if (k === "type") continue;
    const v = obj[k];
    if (v === undefined) {
      if (spec.required) out.push({ path: `${path}.${k}`, message: `required, got nothing; allowed: ${spec.allowed}` });
      continue;
    }
    const r = spec.schema.safeParse(v);
    if (!r.success) {
      const enumVals = spec.values ?? (spec.schema as unknown as { options?: string[] }).options;
      const s = enumVals ? suggestValue(v, enumVals) : null;
      out.push({ path: `${path}.${k}`, message: `got ${show(v)}${s && s !== v ? ` — did you mean '${s}'?` : ""}; allowed: ${spec.allowed}` });
    }
  }
}

/** Walks the raw config, collecting every problem with its full path. */
function collectIssues(input: Record<string, unknown>): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const root = "selection_config";
  for (const k of Object.keys(input)) {
    if (k in TOP_SPECS) continue;
    const s = suggestKey(k, Object.keys(TOP_SPECS));
    out.push({ path: `${root}.${k}`, message: `unknown key${s ? ` — did you mean '${s}'?` : ""} (allowed at ${root}: ${Object.keys(TOP_SPECS).join(", ")})` });
  }
  const { n_samples: n, proportion_samples: p, strategies } = input;
  if (n !== undefined && !(typeof n === "number" && Number.isSafeInteger(n) && (n === -1 || (n >= 1 && n <= N_SAMPLES_MAX)))) out.push({ path: `${root}.n_samples`, message: `got ${show(n)}; allowed: ${TOP_SPECS.n_samples.allowed}` });
  if (p !== undefined && !(typeof p === "number" && p > 0 && p <= 1)) out.push({ path: `${root}.proportion_samples`, message: `got ${show(p)}; allowed: ${TOP_SPECS.proportion_samples.allowed}` });
  if (n === undefined && p === undefined) out.push({ path: root, message: "got neither n_samples nor proportion_samples; allowed: exactly one of them" });
  if (n !== undefined && p !== undefined) out.push({ path: root, message: `got both n_samples (${show(n)}) and proportion_samples (${show(p)}); allowed: exactly one of them` });
  if (!Array.isArray(strategies) || strategies.length === 0) {
    out.push({ path: `${root}.strategies`, message: `got ${show(strategies)}; allowed: ${TOP_SPECS.strategies.allowed}` });
    return out;
  }
  strategies.forEach((entry, i) => {
    const at = `${root}.strategies[${i}]`;
    if (!isMap(entry)) {
      out.push({ path: at, message: `got ${show(entry)}; allowed: a mapping { input, strategy }` });
      return;
    }
    for (const k of Object.keys(entry)) {
      if (k === "input" || k === "strategy") continue;
      const s = suggestKey(k, ["input", "strategy"]);
      out.push({ path: `${at}.${k}`, message: `unknown key${s ? ` — did you mean '${s}'?` : ""} (allowed at ${at}: input, strategy)` });
    }
    let inType: InputType | null = null;
    let stType: StrategyType | null = null;
    for (const [part, types, specs] of [
      ["input", INPUT_TYPES, INPUT_SPECS],
      ["strategy", STRATEGY_TYPES, STRATEGY_SPECS],
    ] as const) {
      const obj = entry[part];
      const ap = `${at}.${part}`;
      if (!isMap(obj)) {
        out.push({ path: ap, message: `got ${show(obj)}; allowed: a mapping with a type (${types.join(", ")})` });
        continue;
      }
      const t = obj.type;
      if (!(types as readonly unknown[]).includes(t)) {
        const s = suggestValue(t, types);
        out.push({ path: `${ap}.type`, message: `got ${show(t)}${s ? ` — did you mean '${s}'?` : ""}; allowed: ${types.join(", ")}` });
        continue;
      }
      checkLeaves(obj, (specs as Record<string, Record<string, LeafSpec>>)[t as string], ap, out);
      if (part === "input") inType = t as InputType;
      else stType = t as StrategyType;
    }
    if (inType && stType) {
      const inp = entry.input as { type: string; name?: string; tag_name?: string; filenames?: string[] };
      const bad = inType === "PREDICTIONS" && !(PREDICTION_NAMES as readonly unknown[]).includes(inp.name) ? null : combinationError(inp, stType);
      if (bad) out.push({ path: `${at}.strategy.type`, message: bad });
    }
    if (inType && stType) out.push(...entryIssues(entry.input as Record<string, unknown>, entry.strategy as Record<string, unknown>, at));
    if (stType === "BALANCE" && isMap((entry.strategy as Record<string, unknown>).target)) {
      const target = (entry.strategy as { target: Record<string, unknown> }).target;
      const sum = Object.values(target).reduce<number>((a, v) => a + (typeof v === "number" ? v : 0), 0);
      if (sum > 1 + 1e-9) out.push({ path: `${at}.strategy.target`, message: `fractions sum to ${sum}; allowed: a sum ≤ 1` });
    }
  });
  return out;
}

// ---- API ----------------------------------------------------------------------------------------------

/**
 * Checks a selection_config object and returns it parsed (strengths default to 1, random_seed to 0).
 * Throws SelectionConfigError listing every problem at once.
 */
export function parseSelectionConfig(obj: unknown): SelectionConfig {
  if (!isMap(obj)) throw new SelectionConfigError([{ path: "selection_config", message: `got ${show(obj)}; allowed: a mapping with n_samples or proportion_samples, and strategies` }]);
  const issues = collectIssues(obj);
  if (issues.length) throw new SelectionConfigError(issues);
  const r = selectionConfigSchema.safeParse(obj);
  // The walk above covers every rule of the schema; this is the backstop if they ever drift apart.
  if (!r.success) throw new SelectionConfigError(r.error.issues.map((i) => ({ path: ["selection_config", ...i.path].join("."), message: i.message })));
  return r.data;
}

/** The key documentation of every input and strategy type (for the docs). */
export function selectionConfigKeys(): { where: string; key: string; allowed: string; description: string }[] {
  const rows: { where: string; key: string; allowed: string; description: string }[] = [];
  for (const [k, s] of Object.entries(TOP_SPECS)) rows.push({ where: "selection_config", key: k, ...s });
  for (const [t, specs] of Object.entries(INPUT_SPECS)) for (const [k, s] of Object.entries(specs)) if (k !== "type") rows.push({ where: `input ${t}`, key: k, allowed: s.allowed, description: s.description });
  for (const [t, specs] of Object.entries(STRATEGY_SPECS)) for (const [k, s] of Object.entries(specs)) if (k !== "type") rows.push({ where: `strategy ${t}`, key: k, allowed: s.allowed, description: s.description });
  return rows;
}
