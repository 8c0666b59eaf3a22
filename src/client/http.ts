// The HTTP transport under the client and the worker: JSON requests with the token, typed errors,
// streamed downloads and uploads (no artifact is held in memory whole).
import { apiError, knownErrorCode } from "./errors.js";
import type { ErrorCode } from "../util/errors.js";

export interface HttpOptions {
  url: string;
  token: string;
  /** Extra headers on every request (the worker sends its id). */
  headers?: Record<string, string>;
  /** Per-request timeout for JSON calls, ms (default 60 000). */
  timeoutMs?: number;
}

export class ApiHttp {
  readonly base: string;

  constructor(private readonly o: HttpOptions) {
    if (!/^https?:\/\//.test(o.url)) throw new Error(`url: expected http(s)://host:port, got ${JSON.stringify(o.url)}`);
    if (!o.token) throw new Error("token: an API token is required (create one with `winnow token create`)");
    this.base = o.url.replace(/\/+$/, "");
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { authorization: `Bearer ${this.o.token}`, ...this.o.headers, ...extra };
  }

  private async fail(res: Response, method: string, p: string): Promise<never> {
    let message = `${method} ${p}: HTTP ${res.status}`;
    let field: string | null = null;
    let code: ErrorCode | undefined;
    try {
      const b = (await res.json()) as { message?: string; field?: string; code?: unknown };
      if (b.message) message = b.message;
      field = b.field ?? null;
      code = knownErrorCode(b.code);
    } catch {
      /* not JSON */
    }
    throw apiError(res.status, message, field, method, p, code);
  }

  /** A JSON call; 204 answers null. */
  async json<T>(method: string, p: string, body?: unknown, opts: { timeoutMs?: number } = {}): Promise<T> {
    const res = await fetch(this.base + p, {
      method,
      headers: this.headers(body === undefined ? {} : { "content-type": "application/json" }),
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(opts.timeoutMs ?? this.o.timeoutMs ?? 60_000),
    });
    if (!res.ok) return this.fail(res, method, p);
    if (res.status === 204) return null as T;
    return (await res.json()) as T;
  }

  /** A text answer (the HTML report). */
  async text(p: string, opts: { timeoutMs?: number } = {}): Promise<string> {
    const res = await fetch(this.base + p, { headers: this.headers(), signal: AbortSignal.timeout(opts.timeoutMs ?? this.o.timeoutMs ?? 60_000) });
    if (!res.ok) return this.fail(res, "GET", p);
    return res.text();
  }

  /** Streams a response body to `dest` (written to a temp name, then renamed). */
  async download(p: string | URL, dest: string, opts: { auth?: boolean; timeoutMs?: number } = {}): Promise<number> {
    const url = typeof p === "string" && !/^https?:/.test(p) ? this.base + p : String(p);
    const res = await fetch(url, {
      headers: opts.auth === false ? {} : this.headers(),
      signal: AbortSignal.timeout(opts.timeoutMs ?? 10 * 60_000),
    });
    if (!res.ok || !res.body) return this.fail(res, "GET", url.replace(/signature=[^&]+/, "signature=…"));
    const { bodyToFile } = await import("./node-files.js");
    return bodyToFile(res.body, dest);
  }

  /** Streams a file as the body of a PUT. */
  async upload<T>(p: string, file: string): Promise<T> {
    const { size, body } = await (await import("./node-files.js")).fileBody(file);
    const res = await fetch(this.base + p, {
      method: "PUT",
      headers: this.headers({ "content-type": "application/octet-stream", "content-length": String(size) }),
      body,
      duplex: "half",
      signal: AbortSignal.timeout(30 * 60_000),
    } as RequestInit);
    if (!res.ok) return this.fail(res, "PUT", p);
    return (await res.json()) as T;
  }
}
