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
  stop(): Promise<void>;
}

export async function startS3(buckets: string[]): Promise<LocalS3> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "winnow-s3-"));
  const s3 = new S3rver({ silent: true, directory, configureBuckets: buckets.map((name) => ({ name, configs: [] })) });
  await s3.configureBuckets();
  const handle = s3.callback();
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
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
    endpoint, env, requests,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      process.off("exit", cleanup);
      cleanup();
    },
  };
}
