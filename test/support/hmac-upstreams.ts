import crypto from 'node:crypto';
import type { Delivery, Upstream, Version } from './upstreams';

/**
 * hmac_v1's upstreams for the behaviour suite: each preset's vendor, its payloads shaped as the
 * vendor documents them and signed here by the vendor's own rule (not by hooksync's code), plus
 * one sender described by options alone. Shopify's ids are beyond 2^53, so every digit must survive.
 */

const iso = (seconds: number) => new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
const json = { 'content-type': 'application/json' };
const hmac = (algorithm: string, secret: string, data: string) => crypto.createHmac(algorithm, secret).update(data, 'utf8').digest();

/** An Upstream whose every delivery is signed by `sign(body, secret)`; a forgery is signed under another secret. */
function hmacUpstream(u: {
  name: string;
  secret: string;
  options: Record<string, unknown>;
  key: (n: number) => string;
  payload: (key: string, v: Version) => { body: string; headers?: Record<string, string> };
  unhandled: { body: string; headers?: Record<string, string> }[];
  sign: (body: string, secret: string) => Record<string, string>;
  markerOf: Upstream['markerOf'];
}): Upstream {
  const signed = (p: { body: string; headers?: Record<string, string> }): Delivery => ({
    body: p.body,
    headers: { ...json, ...p.headers, ...u.sign(p.body, u.secret) },
  });
  return {
    service: 'hmac_v1',
    name: u.name,
    secret: u.secret,
    options: u.options,
    keyColumn: 'remote_id',
    timestampColumn: 'updated_at',
    key: u.key,
    async event(key, v) {
      const p = u.payload(key, v);
      // Signed anew at each delivery (a timestamped signature gets a fresh timestamp).
      return async () => signed(p);
    },
    async unhandled() {
      return u.unhandled.map((p) => signed(p));
    },
    markerOf: u.markerOf,
    async forged(d) {
      return { ...d, headers: { ...d.headers, ...u.sign(d.body, 'not-the-secret-of-this-endpoint') } };
    },
  };
}

/** shopify.dev: X-Shopify-Hmac-Sha256 = base64(HMAC-SHA256(body)) under the client secret. */
export const shopifySign = (body: string, secret: string) => ({ 'x-shopify-hmac-sha256': hmac('sha256', secret, body).toString('base64') });

/** Linear: Linear-Signature = hex(HMAC-SHA256(body)). */
export const linearSign = (body: string, secret: string) => ({ 'linear-signature': hmac('sha256', secret, body).toString('hex') });

/** Intercom: X-Hub-Signature = sha1=hex(HMAC-SHA1(body)) under the app's client secret. */
export const intercomSign = (body: string, secret: string) => ({ 'x-hub-signature': `sha1=${hmac('sha1', secret, body).toString('hex')}` });

/** Zendesk: X-Zendesk-Webhook-Signature = base64(HMAC-SHA256(TIMESTAMP + BODY)), the timestamp ISO-8601 in its own header. */
export function zendeskSign(body: string, secret: string, at = new Date()): Record<string, string> {
  const timestamp = at.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return { 'x-zendesk-webhook-signature': hmac('sha256', secret, timestamp + body).toString('base64'), 'x-zendesk-webhook-signature-timestamp': timestamp };
}

/** The custom sender: X-Acme-Signature = v0=hex(HMAC-SHA512("v0:<unix seconds>:<body>")), the seconds in X-Acme-Timestamp. */
export function acmeSign(body: string, secret: string, at = new Date()): Record<string, string> {
  const ts = String(Math.floor(at.getTime() / 1000));
  return { 'x-acme-signature': `v0=${hmac('sha512', secret, `v0:${ts}:${body}`).toString('hex')}`, 'x-acme-timestamp': ts };
}

/** Beyond Number.MAX_SAFE_INTEGER: a JavaScript number would round them. */
const BIG = 9_007_199_254_740_993n;

export const shopifyUpstream = hmacUpstream({
  name: 'hmac_v1 shopify',
  secret: 'shpss_' + 'behaviour'.repeat(3),
  options: { preset: 'shopify' },
  key: (n) => String(BIG + 2n * BigInt(n)),
  // Keys written as JSON numbers with all their digits, as Shopify writes them.
  payload: (key, v) =>
    v.deleted
      ? // A delete topic's payload is the id alone; the time is the header's.
        { body: `{"id":${key}}`, headers: { 'x-shopify-topic': 'products/delete', 'x-shopify-triggered-at': iso(v.at) } }
      : {
          body: `{"id":${key},"title":${JSON.stringify(v.marker)},"status":"active","updated_at":"${new Date(v.at * 1000).toISOString().replace('.000Z', '-00:00')}","variants":[{"id":${key}1,"price":"29.99"}]}`,
          headers: { 'x-shopify-topic': 'products/update', 'x-shopify-triggered-at': iso(v.at + 1) },
        },
  unhandled: [{ body: '{"shop_id":954889,"shop_domain":"example.myshopify.com"}', headers: { 'x-shopify-topic': 'shop/redact' } }],
  sign: shopifySign,
  // A deletion's data is what Shopify sends: the id alone, so no title is what "gone" looks like.
  markerOf: (row) => row.data.title ?? (row.deleted ? 'gone' : undefined),
});

export const linearUpstream = hmacUpstream({
  name: 'hmac_v1 linear',
  secret: 'lin_wh_' + 'behaviour'.repeat(3),
  options: { preset: 'linear' },
  key: (n) => `2f1c0e3a-0000-4000-8000-${String(n).padStart(12, '0')}`,
  payload: (key, v) => ({
    body: JSON.stringify({
      action: v.deleted ? 'remove' : 'update',
      type: 'Issue',
      data: { id: key, title: v.marker, updatedAt: new Date(v.at * 1000).toISOString(), teamId: 'team-1' },
      url: `https://linear.app/acme/issue/ACM-${v.at}`,
      createdAt: new Date(v.at * 1000).toISOString(),
      webhookTimestamp: Date.now(),
    }),
    headers: { 'linear-event': 'Issue', 'linear-delivery': crypto.randomUUID() },
  }),
  // An OAuth app's revocation has no data.id: not an issue's version.
  unhandled: [{ body: JSON.stringify({ action: 'revoked', type: 'OAuthApp', organizationId: 'org-1', oauthClientId: 'client-1', webhookTimestamp: Date.now() }) }],
  sign: linearSign,
  markerOf: (row) => row.data.data.title,
});

export const intercomUpstream = hmacUpstream({
  name: 'hmac_v1 intercom',
  secret: 'intercom-' + 'behaviour'.repeat(3),
  options: { preset: 'intercom' },
  key: (n) => `65f0c0de${String(n).padStart(16, '0')}`,
  // Intercom's times are Unix seconds.
  payload: (key, v) => ({
    body: JSON.stringify({
      type: 'notification_event',
      app_id: 'abc123',
      data: { type: 'notification_event_data', item: { type: 'contact', id: key, name: v.marker, updated_at: v.at } },
      id: `notif_${crypto.randomUUID()}`,
      topic: v.deleted ? 'contact.deleted' : 'contact.updated',
      delivery_status: 'pending',
      created_at: v.at,
    }),
  }),
  unhandled: [{ body: JSON.stringify({ type: 'notification_event', topic: 'ping', data: { item: { type: 'ping', message: 'something something interzen' } }, created_at: 1_700_000_000 }) }],
  sign: intercomSign,
  markerOf: (row) => row.data.data.item.name,
});

export const zendeskUpstream = hmacUpstream({
  name: 'hmac_v1 zendesk',
  secret: 'dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==',
  options: { preset: 'zendesk' },
  key: (n) => String(35_436 + n),
  payload: (key, v) => ({
    body: JSON.stringify({
      account_id: 12514403,
      detail: { id: key, subject: v.marker, status: 'OPEN', updated_at: iso(v.at) },
      event: {},
      id: crypto.randomUUID(),
      subject: `zen:ticket:${key}`,
      time: new Date(v.at * 1000).toISOString().replace('.000Z', '.000000000Z'),
      type: v.deleted ? 'zen:event-type:ticket.soft_deleted' : 'zen:event-type:ticket.status_changed',
      zendesk_event_version: '2022-11-06',
    }),
  }),
  // A webhook's test request from the admin console: a body of one's own, no detail.id.
  unhandled: [{ body: '{"say": "hello"}' }],
  sign: (body, secret) => zendeskSign(body, secret),
  markerOf: (row) => row.data.detail.subject,
});

/** A sender described by options alone: SHA-512, a prefix, a timestamped template, a POINTER=VALUE deletion. */
export const ACME_OPTIONS = {
  signature_header: 'X-Acme-Signature',
  algorithm: 'sha512',
  encoding: 'hex',
  signature_prefix: 'v0=',
  signed_payload: 'v0:{timestamp}:{body}',
  timestamp_header: 'X-Acme-Timestamp',
  tolerance: 120,
  remote_key: '/object/id',
  timestamp: '/object/modified_at',
  deleted: '/event=object.removed',
};

export const customHmacUpstream = hmacUpstream({
  name: 'hmac_v1 custom',
  secret: 'acme-' + 'behaviour'.repeat(3),
  options: ACME_OPTIONS,
  key: (n) => `obj_${n}`,
  payload: (key, v) => ({ body: JSON.stringify({ event: v.deleted ? 'object.removed' : 'object.changed', object: { id: key, name: v.marker, modified_at: v.at } }) }),
  unhandled: [{ body: JSON.stringify({ event: 'account.pinged', account: { id: 'acct_1' } }) }],
  sign: (body, secret) => acmeSign(body, secret),
  markerOf: (row) => row.data.object.name,
});

export const HMAC_UPSTREAMS = [shopifyUpstream, linearUpstream, intercomUpstream, zendeskUpstream, customHmacUpstream];
