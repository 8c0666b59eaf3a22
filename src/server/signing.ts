// Signed, expiring read URLs for artifacts: HMAC-SHA256 over (artifact id, expiry) with the server's
// secret. The URL carries the expiry, so it needs no token and no database row; a changed id or
// expiry, or a time past the expiry, is refused. Replicas sharing the database share the secret.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export const newSigningSecret = (): string => randomBytes(32).toString("hex");

export function signArtifact(secret: string, artifactId: string, expiresAtSec: number): string {
  return createHmac("sha256", Buffer.from(secret, "hex")).update(`artifact\n${artifactId}\n${expiresAtSec}`).digest("base64url");
}

export type SignatureCheck = { ok: true } | { ok: false; reason: string };

export function checkSignature(secret: string, artifactId: string, expires: string | undefined, sig: string | undefined, nowMs: number): SignatureCheck {
  if (!expires || !/^\d{1,12}$/.test(expires)) return { ok: false, reason: "missing or malformed `expires`" };
  if (!sig) return { ok: false, reason: "missing `signature`" };
  const want = Buffer.from(signArtifact(secret, artifactId, Number(expires)));
  const got = Buffer.from(sig);
  if (want.length !== got.length || !timingSafeEqual(want, got)) return { ok: false, reason: "signature does not match" };
  if (Number(expires) * 1000 <= nowMs) return { ok: false, reason: `URL expired at ${new Date(Number(expires) * 1000).toISOString()}` };
  return { ok: true };
}
