import crypto from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { esmLoader } from './esm';
import type { VerifyResult } from './types';

interface WebhooksMethods {
  verify(secret: string, payload: string, signature: string): Promise<boolean>;
  sign(secret: string, payload: string): Promise<string>;
}

/** `@octokit/webhooks-methods` is ESM-only: loaded on the first request that needs it. */
export const githubWebhooksMethods = esmLoader<WebhooksMethods>('@octokit/webhooks-methods');

const SIGNATURE = /^sha256=[0-9a-f]{64}$/;

/**
 * Verifies `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>` as GitHub signs it,
 * with GitHub's own library (constant-time comparison). GitHub signs no timestamp, so there is no
 * replay window; redeliveries are harmless because versions are ordered by `updated_at`.
 */
export async function verifyGithubSignature(rawBody: Buffer, headers: IncomingHttpHeaders, secret: string | null): Promise<VerifyResult> {
  const header = headers['x-hub-signature-256'];
  if (typeof header !== 'string' || header.length === 0) {
    return { ok: false, reason: 'missing_signature', message: 'missing X-Hub-Signature-256 header' };
  }
  if (!secret) {
    return {
      ok: false,
      reason: 'no_secret',
      message: 'this integration has no webhook secret yet; set it with `hooksync integrations update <id> --webhook-secret …`',
    };
  }
  if (!SIGNATURE.test(header)) return { ok: false, reason: 'malformed_signature', message: 'X-Hub-Signature-256 is not sha256=<64 hex digits>' };
  const { verify } = await githubWebhooksMethods();
  // The library takes a string: the body as its bytes were signed, decoded as UTF-8 (what GitHub sends).
  const ok = await verify(secret, rawBody.toString('utf8'), header).catch(() => false);
  // A body that is not UTF-8 would decode lossily: it could never match honestly anyway.
  return ok ? { ok: true } : { ok: false, reason: 'bad_signature', message: 'X-Hub-Signature-256 does not match the payload' };
}

/** A GitHub event body with the headers GitHub sends it with (X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>). */
export function signGithubEvent(body: string, secret: string, event: string): { body: string; headers: Record<string, string> } {
  const signature = 'sha256=' + crypto.createHmac('sha256', secret).update(body, 'utf8').digest('hex');
  return {
    body,
    headers: { 'content-type': 'application/json', 'x-github-event': event, 'x-github-delivery': crypto.randomUUID(), 'x-hub-signature-256': signature },
  };
}
