import type { IncomingHttpHeaders } from 'node:http';
import Stripe from 'stripe';
import type { VerifyResult } from './types';

const signature = Stripe.webhooks.signature!;

/** Stripe's own default: a signature older than five minutes is a replay. */
export const STRIPE_TOLERANCE_SECONDS = 300;

/**
 * Verifies `Stripe-Signature` with the official library (HMAC-SHA256 over `t.body`, any of the
 * `v1` signatures, tolerance, constant-time comparison) and turns its exceptions into a reason.
 */
export function verifyStripeSignature(rawBody: Buffer, headers: IncomingHttpHeaders, secret: string | null): VerifyResult {
  const header = headers['stripe-signature'];
  if (typeof header !== 'string' || header.length === 0) {
    return { ok: false, reason: 'missing_signature', message: 'missing Stripe-Signature header' };
  }
  if (!secret) {
    return {
      ok: false,
      reason: 'no_secret',
      message: 'this integration has no webhook secret yet; set it with `hooksync integrations update <id> --webhook-secret -`',
    };
  }
  try {
    signature.verifyHeader(rawBody, header, secret, STRIPE_TOLERANCE_SECONDS);
    return { ok: true };
  } catch (err) {
    const message = err instanceof Error ? err.message.split('\n')[0]!.trim() : String(err);
    if (/tolerance/i.test(message)) return { ok: false, reason: 'stale_signature', message: 'Stripe-Signature timestamp is outside the tolerance zone' };
    if (/unable to extract/i.test(message)) return { ok: false, reason: 'malformed_signature', message: 'malformed Stripe-Signature header' };
    return { ok: false, reason: 'bad_signature', message: 'no signature in Stripe-Signature matches the payload' };
  }
}

/** A Stripe event body with the headers Stripe sends it with, signed by the official library. */
export function signStripeEvent(body: string, secret: string, timestampSeconds: number): { body: string; headers: Record<string, string> } {
  const header = Stripe.webhooks.generateTestHeaderString({ payload: body, secret, timestamp: timestampSeconds });
  return { body, headers: { 'content-type': 'application/json; charset=utf-8', 'stripe-signature': header } };
}
