// `winnow tags <run-id>` / `winnow tags --dataset <id|name>`: the tags a server holds (name, run,
// created, files), and `winnow tag <run-id> <name>`: names a COMPLETED run's selection, so that
// SIMILARITY's input.tag_name and other runs can refer to it.
import type { Command } from "commander";
import type { ApiWorkflowClient, TagData } from "../client/index.js";
import { addTokenOptions, requireToken, type TokenFlags } from "./token-option.js";

interface ServerFlags extends TokenFlags {
  server?: string;
}

const SERVER_HELP = "server URL (default $WINNOW_SERVER_URL or http://127.0.0.1:8470)";
const NO_TOKEN = "--token: an API token is required (give --token-file <file>, or set $WINNOW_TOKEN)";

async function connect(o: ServerFlags): Promise<{ client: ApiWorkflowClient; server: string }> {
  const { serverUrl } = await import("./server-error.js");
  const server = serverUrl(o.server);
  const token = await requireToken(o, NO_TOKEN);
  const { ApiWorkflowClient } = await import("../client/index.js");
  return { client: new ApiWorkflowClient({ url: server, token }), server };
}

/** The number of selected files of each run (its summary's selected_count; null: no selection). */
async function fileCounts(client: ApiWorkflowClient, runIds: Iterable<string>): Promise<Map<string, number | null>> {
  const ids = [...new Set(runIds)];
  const sums = await Promise.all(ids.map((id) => client.getComputeWorkerRunSummary(id)));
  return new Map(ids.map((id, i) => [id, sums[i]!.selected_count]));
}

export function register(program: Command): void {
  const list = program
    .command("tags [run-id]")
    .description("List a run's tags (its own id once COMPLETED, and the names given to its selection), or a dataset's with --dataset.")
    .option("--dataset <id>", "list the names given to selections of this dataset's runs (its id, or its name)")
    .option("--json", "print the tags as JSON (with file_count)")
    .option("--server <url>", SERVER_HELP);
  addTokenOptions(list)
    .addHelpText("after", "\nA COMPLETED run's selection is a tag named after the run; `winnow tag <run-id> <name>` gives it more names.")
    .action(async (runId: string | undefined, o: ServerFlags & { dataset?: string; json?: boolean }) => {
      const { CliError, EXIT } = await import("./index.js");
      if (!runId === !o.dataset) throw new CliError("give a run id or --dataset <id>, one of them", EXIT.usage);
      const { client, server } = await connect(o);
      const { serverCliError } = await import("./server-error.js");
      try {
        if (runId) await runTags(client, server, runId, o.json);
        else await datasetTags(client, server, o.dataset!, o.json);
      } catch (e) {
        throw serverCliError(e, server, runId ? () => `run ${JSON.stringify(runId)} not found on ${server} (or it belongs to another token)` : undefined);
      }
    });

  const tag = program
    .command("tag <run-id> <name>")
    .description("Name a COMPLETED run's selection (a tag of its dataset, usable as SIMILARITY's input.tag_name).")
    .option("--server <url>", SERVER_HELP);
  addTokenOptions(tag)
    .addHelpText("after", "\nA name has 3-128 characters: letters, digits, space and . : ; = @ _ -, starting with a letter or digit; it is unique within the dataset.")
    .action(async (runId: string, name: string, o: ServerFlags) => {
      const { client, server } = await connect(o);
      const { serverCliError } = await import("./server-error.js");
      try {
        const t = await client.createComputeWorkerRunTag(runId, name);
        const n = (await fileCounts(client, [runId])).get(runId);
        process.stdout.write(`tagged run ${runId}'s selection${n === null || n === undefined ? "" : ` (${n} files)`} as ${JSON.stringify(t.name)} in dataset ${t.dataset_id}\n`);
      } catch (e) {
        throw serverCliError(e, server, () => `run ${JSON.stringify(runId)} not found on ${server} (or it belongs to another token)`);
      }
    });
}

async function runTags(client: ApiWorkflowClient, server: string, runId: string, json?: boolean): Promise<void> {
  const tags = await client.getComputeWorkerRunTags(runId);
  const sum = await client.getComputeWorkerRunSummary(runId);
  const rows = tags.map((t) => ({ ...t, file_count: sum.selected_count }));
  if (json) return void process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  if (!rows.length) {
    const why = sum.state !== "COMPLETED" ? `it is ${sum.state}; a COMPLETED run's selection is a tag` : "it uploaded no selection";
    return void process.stdout.write(`run ${runId} on ${server} has no tags (${why})\n`);
  }
  const created = await createdText();
  await print(["NAME", "KIND", "CREATED", "FILES"], rows.map((t) => [t.name, t.user_given ? "given" : "run id", created(t), count(t.file_count)]));
}

async function datasetTags(client: ApiWorkflowClient, server: string, dataset: string, json?: boolean): Promise<void> {
  const { CliError } = await import("./index.js");
  const all = await client.getDatasets();
  const d = all.find((x) => x.id === dataset) ?? all.find((x) => x.name === dataset);
  if (!d) throw new CliError(`--dataset: no dataset with id or name ${JSON.stringify(dataset)} on ${server} for this token (it has: ${all.map((x) => x.name).join(", ") || "none"})`);
  const tags = await client.getDatasetTags(d.id);
  const files = await fileCounts(client, tags.map((t) => t.run_id));
  const rows = tags.map((t) => ({ ...t, file_count: files.get(t.run_id) ?? null }));
  if (json) return void process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  if (!rows.length) return void process.stdout.write(`dataset ${d.name} (${d.id}) has no named tags; name a COMPLETED run's selection with \`winnow tag <run-id> <name>\`\n`);
  const created = await createdText();
  await print(["NAME", "RUN", "CREATED", "FILES"], rows.map((t) => [t.name, t.run_id, created(t), count(t.file_count)]));
}

const count = (n: number | null): string => (n === null ? "-" : String(n));

async function print(head: string[], rows: string[][]): Promise<void> {
  const { table } = await import("./runs.js");
  process.stdout.write(table(head, rows));
}

async function createdText(): Promise<(t: TagData) => string> {
  const { isoSeconds } = await import("./runs.js");
  return (t) => isoSeconds(new Date(t.created_at).toISOString());
}
