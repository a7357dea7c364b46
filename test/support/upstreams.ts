import crypto from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import webhookExamples from '@octokit/webhooks-examples';
import { Webhook } from 'standardwebhooks';
import { githubWebhooksMethods } from '../../src/integrations/github-signature';
import type { IntegrationDescriptor, Interpretation, VerifyResult } from '../../src/integrations/types';
import { customerEvent, stripeSignature } from './stripe';

/**
 * Each integration as its upstream behaves: the events it sends for a version of a resource, signed
 * as it signs them, and the events an integration must acknowledge and ignore. The behaviour suite
 * (test/integration-behaviour.test.ts) runs the same guarantees against every one of them.
 */

/** A request as the upstream sends it: the exact bytes and the headers (signature included). */
export interface Delivery {
  body: string;
  headers: Record<string, string>;
}

/** One version of a resource: when it changed upstream (epoch seconds), a marker to recognize it by, and whether it is a deletion. */
export interface Version {
  at: number;
  marker: string;
  deleted?: boolean;
}

export interface Upstream {
  service: string;
  /** For test names, when one service has several upstreams (hmac_v1's presets); default `service`. */
  name?: string;
  secret: string;
  /** Per-instance settings at creation (standard_webhooks_v1's pointers). */
  options?: Record<string, unknown>;
  keyColumn: string;
  timestampColumn: string;
  /** The n-th remote key of this upstream's shape (Stripe cus_…, GitHub a number). */
  key(n: number): string;
  /** A new event of `version` for `key`; `deliver` signs it. Calling `deliver` again on it is a redelivery. */
  event(key: string, version: Version): Promise<() => Promise<Delivery>>;
  /** Events the integration must acknowledge with 2xx and ignore. */
  unhandled(): Promise<Delivery[]>;
  /** The marker of the version a stored row holds (read from `data`). */
  markerOf(row: { data: any; deleted?: boolean }): string;
  /** The same delivery with a signature that does not match (another secret). */
  forged(d: Delivery): Promise<Delivery>;
}

const iso = (seconds: number) => new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
const json = { 'content-type': 'application/json' };

export const stripeUpstream: Upstream = {
  service: 'stripe_customer_v1',
  secret: 'whsec_' + 'behaviour'.repeat(4),
  keyColumn: 'stripe_id',
  timestampColumn: 'updated',
  key: (n) => `cus_Behave${n}`,
  async event(key, v) {
    const type = v.deleted ? 'customer.deleted' : 'customer.updated';
    const body = JSON.stringify(customerEvent({ type, id: key, created: v.at, name: v.marker }));
    // Signed anew at each delivery, as Stripe does (a fresh timestamp).
    return async () => ({ body, headers: { ...json, 'stripe-signature': stripeSignature(body, stripeUpstream.secret) } });
  },
  async unhandled() {
    const body = JSON.stringify({ ...customerEvent({ type: 'customer.updated', id: 'cus_Unhandled', created: 1_700_000_000 }), type: 'invoice.paid' });
    return [{ body, headers: { ...json, 'stripe-signature': stripeSignature(body, stripeUpstream.secret) } }];
  },
  markerOf: (row) => row.data.name,
  async forged(d) {
    return { ...d, headers: { ...d.headers, 'stripe-signature': stripeSignature(d.body, 'whsec_' + 'forged'.repeat(6)) } };
  },
};

/** GitHub's own example payloads (@octokit/webhooks-examples), by event name. */
export function githubExamples(event: string): any[] {
  const def = (webhookExamples as Array<{ name: string; examples: any[] }>).find((d) => d.name === event);
  if (!def) throw new Error(`no GitHub example payloads for ${event}`);
  return def.examples.map((e) => structuredClone(e));
}

/** Signed as GitHub signs: X-Hub-Signature-256 with @octokit/webhooks-methods' sign(). */
export async function githubDelivery(event: string, payload: unknown, secret: string, delivery = crypto.randomUUID()): Promise<Delivery> {
  const body = JSON.stringify(payload);
  const { sign } = await githubWebhooksMethods();
  return {
    body,
    headers: {
      ...json,
      'user-agent': 'GitHub-Hookshot/5f8b8a4',
      'x-github-event': event,
      'x-github-delivery': delivery,
      'x-github-hook-id': '123456789',
      'x-hub-signature-256': await sign(secret, body),
    },
  };
}

export const githubUpstream: Upstream = {
  service: 'github_issue_v1',
  secret: 'behaviour-' + 'github'.repeat(4),
  keyColumn: 'github_id',
  timestampColumn: 'updated_at',
  key: (n) => String(700_000_000 + n),
  async event(key, v) {
    const example = githubExamples('issues').find((e) => e.action === (v.deleted ? 'deleted' : 'edited'))!;
    example.issue = { ...example.issue, id: Number(key), title: v.marker, updated_at: iso(v.at) };
    const id = crypto.randomUUID();
    // A redelivery from GitHub's UI repeats the delivery id and the body.
    return () => githubDelivery('issues', example, githubUpstream.secret, id);
  },
  async unhandled() {
    const ping = githubExamples('ping')[0];
    const comment = githubExamples('issue_comment')[0];
    return [await githubDelivery('ping', ping, githubUpstream.secret), await githubDelivery('issue_comment', comment, githubUpstream.secret)];
  },
  markerOf: (row) => row.data.title,
  async forged(d) {
    const { sign } = await githubWebhooksMethods();
    return { ...d, headers: { ...d.headers, 'x-hub-signature-256': await sign('someone-else', d.body) } };
  },
};

/** Signed as the Standard Webhooks specification says, with its own library. */
export function standardDelivery(payload: unknown, secret: string, id = `msg_${crypto.randomBytes(12).toString('hex')}`, at = new Date()): Delivery {
  const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
  return {
    body,
    headers: {
      ...json,
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': new Webhook(secret).sign(id, at, body),
    },
  };
}

export const standardUpstream: Upstream = {
  service: 'standard_webhooks_v1',
  secret: 'whsec_' + Buffer.from('behaviour-standard-webhooks-key').toString('base64'),
  options: { remote_key: '/data/id', timestamp: '/data/updated_at', deleted: '/data/deleted' },
  keyColumn: 'remote_id',
  timestampColumn: 'updated_at',
  key: (n) => `thing_${n}`,
  async event(key, v) {
    const payload = {
      type: v.deleted ? 'thing.deleted' : 'thing.updated',
      timestamp: iso(v.at),
      // Alternately ISO-8601 and Unix seconds: both are version times.
      data: { id: key, name: v.marker, updated_at: v.at % 2 === 0 ? iso(v.at) : v.at, deleted: v.deleted ?? false },
    };
    const id = `msg_${crypto.randomBytes(12).toString('hex')}`;
    // Redelivered with the same webhook-id, signed anew (a fresh webhook-timestamp).
    return async () => standardDelivery(payload, standardUpstream.secret, id);
  },
  async unhandled() {
    // Another event type of the same sender, without the resource's key.
    return [standardDelivery({ type: 'invoice.paid', timestamp: iso(1_700_000_000), data: { invoice: 'in_1' } }, standardUpstream.secret)];
  },
  markerOf: (row) => row.data.data.name,
  async forged(d) {
    const other = 'whsec_' + Buffer.from('not-the-secret-of-this-endpoint').toString('base64');
    const signed = standardDelivery(d.body, other, d.headers['webhook-id']);
    return { ...d, headers: { ...d.headers, 'webhook-signature': signed.headers['webhook-signature']! } };
  },
};

/**
 * A fake integration, to test the frame apart from any real upstream: its own signature header
 * (hex HMAC-SHA256 of the body, compared in constant time), the resource under /thing, an
 * envelope column, a numeric converter, and an event type it ignores.
 */
export const fakeDescriptor: IntegrationDescriptor = {
  service: 'fake_thing_v1',
  upstream: 'Fake',
  resource: 'thing',
  remoteKeyColumn: 'fake_id',
  timestampColumn: 'changed_at',
  resourcePointer: '/thing',
  columns: [
    { name: 'marker', type: 'text', pointer: '/marker' },
    { name: 'kind', type: 'text', pointer: '/kind', from: 'event' },
    { name: 'version', type: 'bigint', pointer: '/version' },
  ],
  precedence: ['changed', 'deleted'],
  secretExample: 'fake_…',
  verify(raw: Buffer, headers: IncomingHttpHeaders, secret: string | null): VerifyResult {
    const given = headers['x-fake-signature'];
    if (typeof given !== 'string') return { ok: false, reason: 'missing_signature', message: 'missing X-Fake-Signature' };
    if (!secret) return { ok: false, reason: 'no_secret', message: 'no secret' };
    const expected = crypto.createHmac('sha256', secret).update(raw).digest();
    const got = Buffer.from(given, 'hex');
    return got.length === expected.length && crypto.timingSafeEqual(got, expected) ? { ok: true } : { ok: false, reason: 'bad_signature', message: 'X-Fake-Signature does not match' };
  },
  interpret(body): Interpretation {
    const e = body as { kind?: string; thing?: { id?: string; at?: number } };
    if (e.kind === 'noise') return { kind: 'ignored', eventType: 'noise' };
    if (e.kind !== 'changed' && e.kind !== 'deleted') return { kind: 'invalid', message: 'unknown kind' };
    if (typeof e.thing?.id !== 'string' || typeof e.thing.at !== 'number') return { kind: 'invalid', message: 'no thing' };
    return { kind: 'record', record: { key: e.thing.id, ts: e.thing.at * 1000, deleted: e.kind === 'deleted', change: e.kind } };
  },
  testEvent({ key, deleted, now, secret }) {
    const at = now.getTime() / 1000;
    const body = JSON.stringify({ kind: deleted ? 'deleted' : 'changed', thing: { id: key, at, marker: 'test', version: Math.floor(at) } });
    return { body, headers: { ...json, 'x-fake-signature': fakeSign(body, secret) } };
  },
  setupSteps: () => [],
};

const fakeSign = (body: string, secret: string) => crypto.createHmac('sha256', secret).update(body).digest('hex');

export const fakeUpstream: Upstream = {
  service: fakeDescriptor.service,
  secret: 'fake_' + 'behaviour'.repeat(3),
  keyColumn: 'fake_id',
  timestampColumn: 'changed_at',
  key: (n) => `thing-${n}`,
  async event(key, v) {
    const body = JSON.stringify({ kind: v.deleted ? 'deleted' : 'changed', thing: { id: key, at: v.at, marker: v.marker, version: v.at } });
    return async () => ({ body, headers: { ...json, 'x-fake-signature': fakeSign(body, fakeUpstream.secret) } });
  },
  async unhandled() {
    const body = JSON.stringify({ kind: 'noise', thing: { id: 'thing-noise', at: 1 } });
    return [{ body, headers: { ...json, 'x-fake-signature': fakeSign(body, fakeUpstream.secret) } }];
  },
  markerOf: (row) => row.data.marker,
  async forged(d) {
    return { ...d, headers: { ...d.headers, 'x-fake-signature': fakeSign(d.body, 'fake_other') } };
  },
};

/** POSTs a delivery to the ingest endpoint. */
export async function deliver(apiUrl: string, integrationId: string, d: Delivery): Promise<{ status: number; body: any }> {
  const res = await fetch(`${apiUrl}/v1/webhooks/${integrationId}`, { method: 'POST', headers: d.headers, body: d.body });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // kept as text
  }
  return { status: res.status, body };
}
