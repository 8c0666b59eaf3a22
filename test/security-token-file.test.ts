// `--token` shows the secret to every user of the machine (`ps` reads /proc/<pid>/cmdline). The
// commands that talk to a server also read it from --token-file or $WINNOW_TOKEN: run as users run
// them (bin/winnow.mjs) against a real server, the token works and is not in the command line.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { spawn } from "node:child_process";
import { serve, type RunningServer } from "../src/server/serve.js";
import { openDb } from "../src/db/driver.js";
import { migrate } from "../src/db/migrations.js";
import { Store } from "../src/db/store.js";
import { ApiWorkflowClient } from "../src/client/index.js";
import { tempDir } from "./helpers/data-images.js";

let dir: string;
let srv: RunningServer;
let token: string;

/** Runs the CLI; `cmdline` is the process's /proc cmdline, read while it runs (what `ps` shows). */
function winnow(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string; cmdline: string }> {
  return new Promise((resolve, reject) => {
    const e: NodeJS.ProcessEnv = { ...process.env, WINNOW_HOME: path.join(dir, "home"), ...env };
    if (!env.WINNOW_TOKEN) delete e.WINNOW_TOKEN;
    const p = spawn(process.execPath, [path.resolve("bin/winnow.mjs"), ...args], { env: e, cwd: dir });
    const cmdline = fs.readFileSync(`/proc/${p.pid}/cmdline`, "utf8").split("\0").join(" ");
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d) => (stdout += d));
    p.stderr.on("data", (d) => (stderr += d));
    p.on("error", reject);
    p.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr, cmdline }));
  });
}

before(async () => {
  dir = tempDir("winnow-token-file-");
  fs.mkdirSync(path.join(dir, "root", "imgs"), { recursive: true });
  const database = path.join(dir, "w.db");
  const db = await openDb(database);
  await migrate(db);
  token = (await new Store(db).createToken("a")).token;
  await db.close();
  srv = await serve({ database, storage: path.join(dir, "art"), datasourceRoot: path.join(dir, "root"), port: 0 });
  await new ApiWorkflowClient({ url: srv.url, token }).createDataset("cats", "imgs");
});

after(async () => srv?.close());

test("--token-file and $WINNOW_TOKEN authenticate without the token in the command line; bad files are named", async () => {
  const file = path.join(dir, "token.txt");
  fs.writeFileSync(file, `${token}\n`, { mode: 0o600 });
  const runFile = path.join(dir, "run.json");
  fs.writeFileSync(runFile, JSON.stringify({ selection_config: { n_samples: 2 } }));
  const viaFile = await winnow(["schedule", "--server", srv.url, "--token-file", file, "--dataset", "cats", "--config", runFile]);
  assert.equal(viaFile.code, 0, viaFile.stderr);
  assert.match(viaFile.stdout, /^[0-9a-f]{24}\n$/, "the scheduled run's id");
  assert.ok(!viaFile.cmdline.includes(token) && viaFile.cmdline.includes("--token-file"), viaFile.cmdline);
  const viaEnv = await winnow(["runs", "--server", srv.url, "--json"], { WINNOW_TOKEN: token });
  assert.equal(viaEnv.code, 0, viaEnv.stderr);
  assert.ok(!viaEnv.cmdline.includes(token));
  const runsFile = await winnow(["runs", "--server", srv.url, "--token-file", file, "--json"]);
  assert.equal(runsFile.code, 0, runsFile.stderr);

  const missing = await winnow(["runs", "--server", srv.url, "--token-file", path.join(dir, "nope.txt")]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--token-file: ".*nope\.txt" cannot be read \(ENOENT\)/);
  fs.writeFileSync(path.join(dir, "empty.txt"), "\n");
  const empty = await winnow(["worker", "--server", srv.url, "--token-file", path.join(dir, "empty.txt")]);
  assert.equal(empty.code, 2);
  assert.match(empty.stderr, /--token-file: ".*empty\.txt" must hold one token \(one line\), found nothing/);
  const both = await winnow(["schedule", "--server", srv.url, "--token-file", file, "--token", "x", "--dataset", "cats"]);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /--token and --token-file: give one of them/);
  const help = await winnow(["worker", "--help"]);
  assert.match(help.stdout.replace(/\s+/g, " "), /--token <token> API token; visible to other users in `ps`: prefer --token-file or \$WINNOW_TOKEN/);
});
