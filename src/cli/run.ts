// `winnow run <input>`: the whole job on one machine (src/run/run.ts).
import { Command, InvalidArgumentError, Option } from "commander";
import { CliError, EXIT } from "./index.js";
import type { ExitCode } from "./exit-codes.js";
import { addRankOptions, rankMode, runAsOtherRank } from "./run-ranks.js";
import type { RankSetup } from "../run/ranks.js";

const intArg = (name: string) => (v: string): number => {
  const n = Number(v);
  if (!/^\s*-?\d+\s*$/.test(v) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`${name} takes an integer, got ${JSON.stringify(v)}`);
  return n;
};

export function register(program: Command): void {
  const cmd = program
    .command("run")
    .description("Train (optionally), embed and select from a folder of images; writes a run folder with a report.")
    .argument("[input]", "folder of images (searched recursively); with --resume, the resumed run's (may be left out)")
    .option("-c, --config <file>", "run file (YAML or JSON) with worker_config, selection_config, lightly_config as sent to Lightly")
    .option("-n, --n-samples <N>", "selection_config.n_samples", intArg("--n-samples"))
    .option("--train", "worker_config.enable_training = true")
    .option("--epochs <N>", "lightly_config.trainer.max_epochs", intArg("--epochs"))
    .option("--batch-size <N>", "lightly_config.loader.batch_size", intArg("--batch-size"))
    .option("--checkpoint <path|url>", "worker_config.checkpoint: a file or an http(s) URL")
    .option("--checkpoint-run-id <id>", "worker_config.checkpoint_run_id: reuse the checkpoint of an earlier run (see `winnow runs`)")
    .option("--lightly-path <dir>", "where Lightly's predictions are: a folder holding .lightly/predictions/, or that folder itself (default: the input folder)")
    .option("--resume <run id>", "continue an interrupted (ABORTED, or killed) training run from its last checkpoint: same input and config, a new run folder")
    .option("-o, --output <dir>", "output folder (new or empty; default ./winnow-runs/<run id>)")
    .addOption(new Option("--device <device>", "compute device (sets lightly_config.trainer.gpus)").choices(["cpu", "cuda"]))
    .option("-q, --quiet", "no progress output (log.txt is still written)");
  addRankOptions(cmd)
    .addHelpText("after", `
Output folder: config/ (resolved config), data/embeddings.csv, data/selected_embeddings.csv,
filenames/{selected,corrupt,duplicate}_filenames.txt, checkpoints/*.ckpt (training), log.txt,
report.html + report.json, run.json. Crop selection (an EMBEDDINGS input with a task) adds
data/selected_crops.{csv,json}; runs that read predictions add data/prediction_issues.json and
filenames/malformed_prediction_files.txt. Runs are recorded in $WINNOW_HOME/runs (default ~/.winnow/runs).

Several ranks (data-parallel; docs/deployment.md): trainer.gpus: N (one rank per GPU),
trainer.num_processes: N or --nproc-per-node N (CPU ranks), --nnodes/--node-rank/--master-addr/
--master-port across machines, or torchrun's environment. Rank 0 writes every output.

Exit codes: 0 completed, 1 failed, 2 bad config or usage, 130 aborted (Ctrl-C).

Example:
  winnow run samples/shapes --config samples/run.yaml
  winnow run ./images --n-samples 50 --train --epochs 20
  winnow run --resume 20250131-154502-3fa9c1            # --epochs N to train longer`)
    .action(runAction);
}

/**
 * The first Ctrl-C (or SIGTERM) stops the run gracefully, the second leaves at once. SIGUSR2 (from
 * the rank launcher: another rank failed) stops it the same way but ends it FAILED.
 */
function stopOnSignals(): { ctl: AbortController; hard: AbortController; onSig: () => void; onPeer: () => void } {
  const ctl = new AbortController();
  const hard = new AbortController();
  let signals = 0;
  const onSig = (): void => {
    signals++;
    if (signals === 1) {
      process.stderr.write("\nstopping (training keeps a checkpoint); Ctrl-C again to quit at once\n");
      ctl.abort();
    } else {
      hard.abort(); // run() ends its record (ABORTED, checkpoint recorded) synchronously first
      process.exit(EXIT.aborted);
    }
  };
  const onPeer = (): void => {
    // Loaded here, not at start-up: the engine stays out of `winnow --help` (the run has loaded it by now).
    void import("../distributed/process-group.js").then(({ DistributedError }) => {
      if (!ctl.signal.aborted) ctl.abort(new DistributedError("another rank of this run failed (the launcher's message says which); rank 0 stopped after its current step"));
    });
  };
  process.on("SIGINT", onSig);
  process.on("SIGTERM", onSig);
  process.on("SIGUSR2", onPeer);
  return { ctl, hard, onSig, onPeer };
}

async function runAction(input: string | undefined, o: Record<string, unknown>): Promise<void> {
  // The config is checked before the engine is loaded, so config errors come back at once.
  const { loadRunConfig, RunConfigError } = await import("../config/run-config.js");
  const overrides = {
    nSamples: o.nSamples as number | undefined,
    train: o.train ? true : undefined,
    epochs: o.epochs as number | undefined,
    batchSize: o.batchSize as number | undefined,
    checkpoint: o.checkpoint as string | undefined,
    checkpointRunId: o.checkpointRunId as string | undefined,
    device: o.device as "cpu" | "cuda" | undefined,
  };
  if (input === undefined && !o.resume) throw new CliError("winnow run: give the input folder (or --resume <run id>)", EXIT.usage);
  let ranks: RankSetup | undefined;
  try {
    const config = o.resume ? null : loadRunConfig((o.config as string | undefined) ?? null, overrides);
    const mode = await rankMode(config, o);
    if (mode.kind === "launched") {
      if (mode.exitCode !== 0) throw new CliError("winnow run: the run did not complete (rank 0's messages above say why)", mode.exitCode as ExitCode);
      return;
    }
    if (mode.kind === "rank" && mode.setup.rendezvous.rank !== 0) return await runAsOtherRank(input, o, overrides, mode.setup);
    if (mode.kind === "rank") ranks = mode.setup;
  } catch (e) {
    if (e instanceof RunConfigError) throw new CliError(e.message, EXIT.usage);
    throw e;
  }
  const { run, RunError } = await import("../run/run.js");
  const { OutputFolderError } = await import("../run/output-folder.js");
  const { ctl, hard, onSig, onPeer } = stopOnSignals();
  try {
    const r = await run({
      input,
      configFile: o.config as string | undefined,
      output: o.output as string | undefined,
      lightlyPath: o.lightlyPath as string | undefined,
      resume: o.resume as string | undefined,
      overrides,
      stream: o.quiet ? null : process.stderr,
      signal: ctl.signal,
      hardStop: hard.signal,
      ranks,
    });
    process.stdout.write(`run ${r.record.id} COMPLETED: ${r.record.selectedCount} selected\n  output: ${r.paths.output}\n  report: ${r.paths.reportHtml}\n`);
  } catch (e) {
    if (e instanceof RunConfigError) throw new CliError(e.message, EXIT.usage);
    if (e instanceof OutputFolderError) throw new CliError(e.message, EXIT.usage);
    if (e instanceof RunError) throw new CliError(`${e.message}\n  log: ${e.paths.log}`, e.record.state === "ABORTED" ? EXIT.aborted : EXIT.failed);
    throw e;
  } finally {
    process.off("SIGINT", onSig);
    process.off("SIGTERM", onSig);
    process.off("SIGUSR2", onPeer);
  }
}
