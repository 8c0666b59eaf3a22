// Signed, expiring read URLs for artifacts: HMAC-SHA256 over (artifact id, id of the token that made
// the URL, expiry) with the server's secret. The URL carries the expiry and the token id (`t`), so
// it needs no token and no row of its own; a changed id, token id or expiry, or a time past the
// expiry, is refused, and so is a URL whose token has been revoked since (the server checks `t`).
// Replicas sharing the database share the secret.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export const newSigningSecret = (): string => randomBytes(32).toString("hex");

export function signArtifact(secret: string, artifactId: string, tokenId: string, expiresAtSec: number): string {
  return createHmac("sha256", Buffer.from(secret, "hex")).update(`artifact\n${artifactId}\n${tokenId}\n${expiresAtSec}`).digest("base64url");
}

export type SignatureCheck = { ok: true; tokenId: string } | { ok: false; reason: string };

/** Token ids are the store's 24 hex digits. */
const TOKEN_ID = /^[0-9a-f]{24}$/;

export function checkSignature(secret: string, artifactId: string, q: { t?: string; expires?: string; signature?: string }, nowMs: number): SignatureCheck {
  // URLs made before tokens were bound to them carry no `t`: they are no longer accepted.
  if (!q.t || !TOKEN_ID.test(q.t)) return { ok: false, reason: "missing or malformed `t` (the id of the token that made the URL; URLs of the older format are no longer accepted: make a new one)" };
  if (!q.expires || !/^\d{1,12}$/.test(q.expires)) return { ok: false, reason: "missing or malformed `expires`" };
  if (!q.signature) return { ok: false, reason: "missing `signature`" };
  const want = Buffer.from(signArtifact(secret, artifactId, q.t, Number(q.expires)));
  const got = Buffer.from(q.signature);
  if (want.length !== got.length || !timingSafeEqual(want, got)) return { ok: false, reason: "signature does not match" };
  if (Number(q.expires) * 1000 <= nowMs) return { ok: false, reason: `URL expired at ${new Date(Number(q.expires) * 1000).toISOString()}` };
  return { ok: true, tokenId: q.t };
}
