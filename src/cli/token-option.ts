// The API token of the commands that talk to a server: --token-file <file>, $WINNOW_TOKEN, or
// --token. The last shows the secret to every user of the machine (`ps`), so the help says so.
import * as fs from "node:fs";
import type { Command } from "commander";

export interface TokenFlags {
  token?: string;
  tokenFile?: string;
}

export function addTokenOptions(cmd: Command, prefix = ""): Command {
  return cmd
    .option("--token-file <file>", `${prefix}file holding the API token (preferred, like $WINNOW_TOKEN)`)
    .option("--token <token>", `${prefix}API token; visible to other users in \`ps\`: prefer --token-file or $WINNOW_TOKEN`);
}

/** The token from the flags or $WINNOW_TOKEN, or null when none is given; bad input throws. */
export function tokenFrom(o: TokenFlags, env: NodeJS.ProcessEnv = process.env): string | null {
  if (o.token && o.tokenFile) throw new Error("--token and --token-file: give one of them");
  if (o.tokenFile) {
    let text: string;
    try {
      text = fs.readFileSync(o.tokenFile, "utf8");
    } catch (e) {
      throw new Error(`--token-file: ${JSON.stringify(o.tokenFile)} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    const t = text.trim();
    if (!t || /\s/.test(t)) throw new Error(`--token-file: ${JSON.stringify(o.tokenFile)} must hold one token (one line), ${t ? "found several words" : "found nothing"}`);
    return t;
  }
  return o.token ?? env.WINNOW_TOKEN ?? null;
}

/** tokenFrom for a command's action: a missing or unreadable token is a usage error (exit 2) saying `missing`. */
export async function requireToken(o: TokenFlags, missing: string): Promise<string> {
  const { CliError, EXIT } = await import("./index.js");
  let token: string | null;
  try {
    token = tokenFrom(o);
  } catch (e) {
    throw new CliError((e as Error).message, EXIT.usage);
  }
  if (!token) throw new CliError(missing, EXIT.usage);
  return token;
}
