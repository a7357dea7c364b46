import { createHmac, randomBytes } from 'node:crypto';
import type { Keyring } from '../secrets/keyring';
import { openSecret } from '../secrets/stored';

/**
 * Standard Webhooks (https://www.standardwebhooks.com): `webhook-id`, `webhook-timestamp` (unix
 * seconds) and `webhook-signature`, a space-separated list of `v1,<base64 HMAC-SHA256 of
 * "<id>.<timestamp>.<body>">`, one per secret (two while a rotation overlaps).
 */

/** A new signing secret: `whsec_` and base64 of 32 random bytes, as the `standardwebhooks` package takes it. */
export const generateSigningSecret = (): string => `whsec_${randomBytes(32).toString('base64')}`;

const PREFIX = 'whsec_';

/**
 * `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">` with the secret's key (base64 after
 * `whsec_`), as the `standardwebhooks` package's `sign` computes it (the tests hold the two
 * equal), by Node's own HMAC: the package's is written in JavaScript and took some 40 ms for a page
 * of 1,000 rows (about 1 MB), as long as reading the page.
 */
function sign(secret: string, id: string, seconds: number, body: string): string {
  const key = Buffer.from(secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret, 'base64');
  if (key.length === 0) throw new Error('the signing secret is empty');
  return `v1,${createHmac('sha256', key).update(`${id}.${seconds}.`).update(body).digest('base64')}`;
}

export function signatureHeaders(id: string, body: string, secrets: readonly string[], now = new Date()): Record<string, string> {
  if (secrets.length === 0) return {};
  const seconds = Math.floor(now.getTime() / 1000);
  return {
    'webhook-id': id,
    'webhook-timestamp': String(seconds),
    'webhook-signature': secrets.map((s) => sign(s, id, seconds, body)).join(' '),
  };
}

/** How long the previous secret keeps signing after a rotation. */
export const SIGNING_OVERLAP_MS = 24 * 60 * 60 * 1000;

/** The stored signing columns of a target (sealed or clear). */
export interface SigningColumns {
  id: string;
  signing_secret: string | null;
  signing_secret_previous: string | null;
  signing_secret_previous_expires_at: Date | null;
}

/** The secrets a target's POSTs are signed with: the current one, then the previous one until it expires. */
export function signingSecretsOf(t: SigningColumns, keyring: Keyring | undefined, now = Date.now()): string[] {
  const secrets: string[] = [];
  if (t.signing_secret) secrets.push(openSecret(keyring, 'sync_targets.signing_secret', t.id, t.signing_secret));
  if (t.signing_secret_previous && t.signing_secret_previous_expires_at && t.signing_secret_previous_expires_at.getTime() > now) {
    secrets.push(openSecret(keyring, 'sync_targets.signing_secret_previous', t.id, t.signing_secret_previous));
  }
  return secrets;
}
