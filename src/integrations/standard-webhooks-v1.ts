import crypto from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { z } from 'zod';
import { JsonPointerError, parsePointer, resolvePointer, setPointer } from './json-pointer';
import { pointerSetting as pointer, versionTime } from './payload-settings';
import type { IntegrationDescriptor, Interpretation, VerifyResult } from './types';

/** Weakest first: of two versions with the same timestamp, a deletion wins. */
const CHANGES = ['changed', 'deleted'] as const;

/** Where, in each payload, the resource's key, its version time and (optionally) its deletion are. */
export const standardWebhooksConfig = z
  .object({
    remote_key: pointer('remote_key (--remote-key)'),
    timestamp: pointer('timestamp (--timestamp)'),
    deleted: pointer('deleted (--deleted)').optional(),
  })
  .strict();

export type StandardWebhooksConfig = z.output<typeof standardWebhooksConfig>;

const header = (headers: IncomingHttpHeaders, name: string) => {
  const v = headers[name];
  return typeof v === 'string' ? v : undefined;
};

/**
 * The Standard Webhooks signature (`webhook-id`, `webhook-timestamp`, `webhook-signature`:
 * `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`), verified by the specification's own library,
 * which refuses timestamps more than five minutes away from now and compares in constant time.
 */
function verifyStandardWebhook(rawBody: Buffer, headers: IncomingHttpHeaders, secret: string | null): VerifyResult {
  const [id, timestamp, signature] = ['webhook-id', 'webhook-timestamp', 'webhook-signature'].map((n) => header(headers, n));
  if (!id || !timestamp || !signature) {
    return { ok: false, reason: 'missing_signature', message: 'missing webhook-id, webhook-timestamp or webhook-signature header' };
  }
  if (!secret) {
    return {
      ok: false,
      reason: 'no_secret',
      message: 'this integration has no webhook secret yet; set it with `hooksync integrations update <id> --webhook-secret whsec_…`',
    };
  }
  try {
    new Webhook(secret).verify(rawBody, { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signature }, { jsonParse: false });
    return { ok: true };
  } catch (err) {
    if (!(err instanceof WebhookVerificationError)) throw err;
    if (/too old|too new/.test(err.message)) return { ok: false, reason: 'stale_signature', message: 'webhook-timestamp is more than 5 minutes away from now' };
    if (/invalid signature headers/i.test(err.message)) return { ok: false, reason: 'malformed_signature', message: 'webhook-timestamp is not a Unix time' };
    return { ok: false, reason: 'bad_signature', message: 'no signature in webhook-signature matches the payload' };
  }
}

/**
 * Any sender that follows the Standard Webhooks specification (standardwebhooks.com). Payloads
 * differ between senders, so each instance says, as JSON pointers given at creation, where the
 * resource's key and its version time are. The whole payload is the row's `data`. A redelivery
 * carries the same `webhook-id` and is applied only once. A payload without the key (another event
 * type the sender sends to the same endpoint) is acknowledged and ignored; one with a key but no
 * valid version time is refused.
 */
export const standardWebhooksV1: IntegrationDescriptor<StandardWebhooksConfig> = {
  service: 'standard_webhooks_v1',
  upstream: 'Standard Webhooks',
  resource: 'resource',
  remoteKeyColumn: 'remote_id',
  timestampColumn: 'updated_at',
  resourcePointer: '',
  columns: [
    // The specification's recommended envelope: {type, timestamp, data}.
    { name: 'event_type', type: 'text', pointer: '/type', index: true },
  ],
  precedence: CHANGES,
  dedupe: { windowDays: 7 },
  config: standardWebhooksConfig,
  secretExample: 'whsec_…',
  checkSecret(secret) {
    try {
      new Webhook(secret);
      return undefined;
    } catch {
      return 'a Standard Webhooks secret is whsec_ followed by base64';
    }
  },
  verify: verifyStandardWebhook,
  interpret(body, { headers, config }): Interpretation {
    const key = resolvePointer(body, config.remote_key);
    // One endpoint often gets a sender's other event types too: without a key they are not this
    // resource's versions, and are acknowledged (a refusal would be retried for days).
    if (key === undefined || key === null) {
      const type = (body as { type?: unknown } | null)?.type;
      return { kind: 'ignored', eventType: typeof type === 'string' ? type : `without ${config.remote_key}` };
    }
    const keyText = typeof key === 'string' ? key : typeof key === 'number' && Number.isSafeInteger(key) ? String(key) : undefined;
    if (!keyText) return { kind: 'invalid', message: `no string or integer at ${config.remote_key} (the remote key)` };
    const ts = versionTime(resolvePointer(body, config.timestamp));
    if (ts === undefined) return { kind: 'invalid', message: `no ISO-8601 time or Unix time in seconds at ${config.timestamp} (the version timestamp)` };
    const deleted = config.deleted !== undefined && resolvePointer(body, config.deleted) === true;
    const eventId = header(headers, 'webhook-id');
    return { kind: 'record', record: { key: keyText, ts, deleted, change: deleted ? 'deleted' : 'changed', ...(eventId ? { eventId } : {}) } };
  },
  testEvent({ key, deleted, now, config, secret }) {
    if (deleted && config.deleted === undefined) throw new Error('this integration has no deleted pointer (--deleted at creation): its events cannot mark a deletion');
    // The specification's recommended envelope, with the key, the time and the deletion where this instance reads them.
    const event: Record<string, unknown> = { type: 'test.event', timestamp: now.toISOString(), data: {} };
    setPointer(event, config.remote_key, key);
    setPointer(event, config.timestamp, now.toISOString());
    if (config.deleted !== undefined) setPointer(event, config.deleted, deleted);
    const body = JSON.stringify(event);
    const id = `msg_${crypto.randomBytes(12).toString('hex')}`;
    const headers = { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(now.getTime() / 1000)), 'webhook-signature': new Webhook(secret).sign(id, now, body) };
    return { body, headers: { 'content-type': 'application/json', ...headers } };
  },
  setupSteps: (webhookUrl, id) => [
    `Register ${webhookUrl} as an endpoint with the sender; it signs with a whsec_… secret (set it with: hooksync integrations update ${id} --webhook-secret whsec_… if it was not given here).`,
    `Then send data on with: hooksync httpsync create ${id}`,
  ],
};
