// `winnow checkpoint inspect FILE`: what a checkpoint holds and which lightly_config.model fits it.
import type { Command } from "commander";
import { CliError, EXIT } from "./index.js";

export function register(program: Command): void {
  const ckpt = program.command("checkpoint").description("Checkpoint tools.");
  ckpt
    .command("inspect")
    .description("Print a checkpoint's architecture (the lightly_config.model it fits), head variant and keys.")
    .argument("<file>", "a PyTorch / Lightly / Winnow checkpoint (.ckpt, .pt, .pth)")
    .option("--json", "print the summary as JSON")
    .option("--keys", "list every key with its shape and dtype")
    .action(async (file: string, o: { json?: boolean; keys?: boolean }) => {
      const { inspectCheckpoint, formatInspection } = await import("../run/inspect.js");
      let info;
      try {
        info = inspectCheckpoint(file);
      } catch (e) {
        throw new CliError(`checkpoint inspect: ${(e as Error).message}`, EXIT.failed);
      }
      process.stdout.write(o.json ? `${JSON.stringify(info, null, 2)}\n` : formatInspection(info, Boolean(o.keys)));
    });
}
