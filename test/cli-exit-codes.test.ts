// The CLI's exit code comes from the error's code in one table (src/cli/exit-codes.ts): usage and
// config errors 2, aborted 130, everything else 1; the message is printed as "winnow: <message>".
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Command } from "commander";
import { main, CliError, EXIT } from "../src/cli/index.js";
import { WinnowError } from "../src/util/errors.js";
import { LightlyConfigError } from "../src/config/lightly-config.js";
import { CheckpointError } from "../src/checkpoint/errors.js";

/** Runs `winnow fail` whose action throws `err`; returns the exit code and what went to stderr. */
async function exitOf(err: unknown): Promise<{ code: number; stderr: string }> {
  const failing = { register: (p: Command) => void p.command("fail").action(() => { throw err; }) };
  const write = process.stderr.write;
  let stderr = "";
  process.stderr.write = ((s: string) => ((stderr += s), true)) as typeof process.stderr.write;
  try {
    return { code: await main(["fail"], [failing]), stderr };
  } finally {
    process.stderr.write = write;
  }
}

test("exit codes by error code: usage/config 2, aborted 130, others 1", async () => {
  const cases: [unknown, number][] = [
    [new CliError("give the input folder", EXIT.usage), 2],
    [new CliError("the run failed"), 1],
    [new CliError("stopped", EXIT.aborted), 130],
    [new LightlyConfigError([{ path: "lightly_config.loader.batch_size", message: "expected ≥ 1" }]), 2],
    [new WinnowError("invalid_input", "bad body"), 2],
    [new WinnowError("aborted", "cancelled"), 130],
    [new WinnowError("not_found", "no run 7"), 1],
    [new CheckpointError("bad CRC", "CRC"), 1],
    [new Error("plain"), 1],
  ];
  for (const [err, want] of cases) {
    const { code, stderr } = await exitOf(err);
    assert.equal(code, want, (err as Error).message);
    assert.equal(stderr, `winnow: ${(err as Error).message}\n`);
  }
});

test("CliError keeps its exitCode, name and message and is a WinnowError", () => {
  const e = new CliError("--port: expected an integer", EXIT.usage);
  assert.ok(e instanceof WinnowError);
  assert.equal(e.name, "CliError");
  assert.equal(e.exitCode, 2);
  assert.equal(e.code, "usage");
  assert.equal(new CliError("x").exitCode, 1);
});
