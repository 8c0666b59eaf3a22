// `winnow runs`: the local runs index, newest first.
import type { Command } from "commander";

export function register(program: Command): void {
  program
    .command("runs")
    .description("List earlier local runs (id, input, state, started, duration, checkpoint).")
    .option("--json", "print the records as JSON")
    .option("--input <folder>", "only runs over this input folder")
    .addHelpText("after", "\nRuns are recorded in $WINNOW_HOME/runs (default ~/.winnow/runs).")
    .action(async (o: { json?: boolean; input?: string }) => {
      const fs = await import("node:fs");
      const path = await import("node:path");
      const { listRunRecords, runsIndexDir } = await import("../run/store.js");
      const { formatDuration } = await import("../util/progress.js");
      let recs = listRunRecords();
      if (o.input) {
        let want = path.resolve(o.input);
        try {
          want = fs.realpathSync(want);
        } catch {
          /* compare as given */
        }
        recs = recs.filter((r) => r.input === want);
      }
      if (o.json) {
        process.stdout.write(`${JSON.stringify(recs, null, 2)}\n`);
        return;
      }
      if (!recs.length) {
        process.stdout.write(`no runs in ${runsIndexDir()}\n`);
        return;
      }
      const rows = recs.map((r) => [
        r.id, r.state, r.input, r.startedAt.replace("T", " ").replace(/\.\d+Z$/, "Z"),
        r.durationMs === null ? "-" : formatDuration(r.durationMs / 1000),
        r.checkpoint && fs.existsSync(r.checkpoint) ? "yes" : "no",
        r.selectedCount === null ? "-" : String(r.selectedCount),
      ]);
      const head = ["ID", "STATE", "INPUT", "STARTED", "DURATION", "CHECKPOINT", "SELECTED"];
      const w = head.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j]!.length)));
      const line = (r: string[]): string => r.map((c, j) => c.padEnd(w[j]!)).join("  ").trimEnd();
      process.stdout.write(`${[line(head), ...rows.map(line)].join("\n")}\n`);
    });
}
