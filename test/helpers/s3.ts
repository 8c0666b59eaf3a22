// A local S3 server for the tests: s3rver (an S3 API over a folder) behind our own HTTP server on
// 127.0.0.1 and a free port, so the tests can see every request (e.g. that a checkpoint went up in
// multipart parts). Credentials are s3rver's fixed S3RVER/S3RVER; `env` carries them and the
// endpoint to child processes the way an operator would (AWS_* and WINNOW_S3_* variables).
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import S3rver from "s3rver";

export interface LocalS3 {
  endpoint: string;
  /** Environment for servers/workers/clients using this S3. */
  env: Record<string, string>;
  /** "METHOD /path?query" of every request so far. */
  requests: string[];
  /** Response body bytes sent so far (what clients read from the store). */
  bytesSent(): number;
  /** The next `n` object GETs send half their body, then drop the connection (a flaky network). */
  cutNextBodies(n: number): void;
  stop(): Promise<void>;
}

export async function startS3(buckets: string[]): Promise<LocalS3> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "winnow-s3-"));
  const s3 = new S3rver({ silent: true, directory, configureBuckets: buckets.map((name) => ({ name, configs: [] })) });
  await s3.configureBuckets();
  const handle = s3.callback();
  const requests: string[] = [];
  let cuts = 0;
  let sent = 0;
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const count = (chunk: unknown): void => void (sent += Buffer.isBuffer(chunk) || chunk instanceof Uint8Array ? chunk.length : typeof chunk === "string" ? Buffer.byteLength(chunk) : 0);
    const write0 = res.write.bind(res) as (...a: unknown[]) => boolean;
    const end0 = res.end.bind(res) as (...a: unknown[]) => typeof res;
    res.write = ((chunk: unknown, ...rest: unknown[]) => (count(chunk), write0(chunk, ...rest))) as typeof res.write;
    res.end = ((chunk?: unknown, ...rest: unknown[]) => (typeof chunk !== "function" && count(chunk), end0(chunk, ...rest))) as typeof res.end;
    const objectGet = req.method === "GET" && /^\/[^/?]+\/[^?]+/.test(req.url ?? "");
    if (objectGet && cuts > 0) {
      cuts--;
      // Headers (with the full content-length) and half of the first chunk, then a dead socket.
      const write = res.write.bind(res) as (b: Buffer, cb: () => void) => boolean;
      let done = false;
      const cut = (chunk: unknown): boolean => {
        if (done) return false;
        done = true;
        const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk ?? ""));
        write(b.subarray(0, Math.ceil(b.length / 2)), () => res.socket?.destroy());
        return false;
      };
      res.write = cut as typeof res.write;
      res.end = ((chunk?: unknown) => (cut(chunk), res)) as typeof res.end;
    }
    handle(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  server.unref(); // never what keeps a test process alive
  const cleanup = (): void => fs.rmSync(directory, { recursive: true, force: true });
  process.on("exit", cleanup);
  const endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const env = {
    AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER", AWS_REGION: "us-east-1",
    WINNOW_S3_ENDPOINT: endpoint, WINNOW_S3_PATH_STYLE: "1",
    // The SDK warns once per process that its 2027 releases need Node 22; noise in test output.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
  };
  return {
    endpoint, env, requests, bytesSent: () => sent,
    cutNextBodies: (n) => void (cuts = n),
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      process.off("exit", cleanup);
      cleanup();
    },
  };
}
