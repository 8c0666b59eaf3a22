// The `winnow` command line (commander). Each command lives in its own file and exports
// `register(program)`, which adds the command (with its options and --help text) to the program.
//
// Adding a command (e.g. `winnow export`): write src/cli/export.ts exporting
//   export function register(program: Command): void { program.command("export")…action(…); }
// and add its module to COMMANDS below. Keep heavy imports (the engine, sharp) inside the action
// (`await import(...)`), so `winnow --help` and the other commands stay fast. Throw CliError (or any
// WinnowError) for a clean message; its code picks the exit code (exit-codes.ts), other errors exit 1.
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { WinnowError } from "../util/errors.js";
import { EXIT, cliCodeFor, exitCodeFor, type CliErrorCode, type ExitCode } from "./exit-codes.js";
import * as runCommand from "./run.js";
import * as runsCommand from "./runs.js";
import * as checkpointCommand from "./checkpoint.js";
import * as exportCommand from "./export.js";
import * as embedCommand from "./embed.js";
import * as serveCommand from "./serve.js";
import * as workerCommand from "./worker.js";
import * as scheduleCommand from "./schedule.js";
import * as tokenCommand from "./token.js";
import * as tagsCommand from "./tags.js";

export type CommandModule = { register(program: Command): void };

/** Commands in the order `winnow --help` lists them. */
export const COMMANDS: CommandModule[] = [runCommand, runsCommand, embedCommand, checkpointCommand, exportCommand, serveCommand, workerCommand, scheduleCommand, tagsCommand, tokenCommand];

/** An error the CLI prints as is (no stack); it exits with the code exit-codes.ts gives its `code`. */
export class CliError extends WinnowError<CliErrorCode> {
  constructor(message: string, exitCode: ExitCode = EXIT.failed) {
    super(cliCodeFor(exitCode), message);
  }

  get exitCode(): ExitCode {
    return exitCodeFor(this);
  }
}

export { EXIT };

/** The package's version (package.json is two folders up from both src/cli and dist/cli). */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;
}

export function buildProgram(extra: CommandModule[] = []): Command {
  const program = new Command("winnow")
    .description("Curate image datasets with self-supervised learning (Lightly-compatible configs and checkpoints).")
    .version(packageVersion(), "-V, --version", "print the version of Winnow")
    .showHelpAfterError("(add --help for usage)")
    .exitOverride();
  for (const c of [...COMMANDS, ...extra]) c.register(program);
  return program;
}

/** Parses argv and runs the command; returns the process exit code. */
export async function main(argv: string[], extra: CommandModule[] = []): Promise<number> {
  const program = buildProgram(extra);
  try {
    await program.parseAsync(argv, { from: "user" });
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help/--version exit 0; usage errors have already been printed by commander.
      return e.exitCode === 0 ? 0 : EXIT.usage;
    }
    // Errors Winnow reports on purpose (and any other) print their message, no stack.
    process.stderr.write(`winnow: ${(e as Error)?.message ?? String(e)}\n`);
    return exitCodeFor(e);
  }
}
