import crypto from 'node:crypto';
import { signStripeEvent, verifyStripeSignature } from './stripe-signature';
import type { IntegrationDescriptor, Interpretation } from './types';

// Seconds since 1970 that a timestamptz holds (years 1970 to 5138).
const isEpochSeconds = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v < 1e11;

/** The event types used, weakest first: at equal `created` a deletion beats an update beats a creation. */
const HANDLED = ['customer.created', 'customer.updated', 'customer.deleted'] as const;

interface StripeEvent {
  id?: unknown;
  type?: unknown;
  created?: unknown;
  data?: { object?: Record<string, unknown> };
}

/**
 * Stripe customers. A customer object has no "updated" field, so the event's `created` (when the
 * change happened at Stripe) orders versions, as it does for every Stripe webhook.
 */
export const stripeCustomerV1: IntegrationDescriptor = {
  service: 'stripe_customer_v1',
  upstream: 'Stripe',
  resource: 'customer',
  remoteKeyColumn: 'stripe_id',
  timestampColumn: 'updated',
  resourcePointer: '/data/object',
  columns: [
    { name: 'balance', type: 'bigint', pointer: '/balance' },
    { name: 'created', type: 'timestamptz', pointer: '/created', convert: 'epoch-seconds' },
    { name: 'email', type: 'text', pointer: '/email', index: true },
    { name: 'name', type: 'text', pointer: '/name' },
    { name: 'phone', type: 'text', pointer: '/phone' },
  ],
  precedence: HANDLED,
  secretExample: 'whsec_…',
  verify: verifyStripeSignature,
  interpret(body: unknown): Interpretation {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return { kind: 'invalid', message: 'expected a Stripe event object' };
    }
    const event = body as StripeEvent;
    if (typeof event.type !== 'string') return { kind: 'invalid', message: 'event has no "type"' };
    const type = HANDLED.find((t) => t === event.type);
    if (!type) return { kind: 'ignored', eventType: event.type };
    const object = event.data?.object;
    if (!isEpochSeconds(event.created)) {
      return { kind: 'invalid', message: 'event has no valid "created" timestamp' };
    }
    if (!object || typeof object !== 'object' || typeof object.id !== 'string' || object.id === '') {
      return { kind: 'invalid', message: 'event has no data.object.id' };
    }
    return {
      kind: 'record',
      record: {
        key: object.id,
        ts: event.created * 1000,
        deleted: type === 'customer.deleted',
        change: type,
        ...(typeof event.id === 'string' && event.id !== '' ? { eventId: event.id } : {}),
      },
    };
  },
  // Stripe lists customers newest first, 100 at most per page, by cursor: a customer created
  // during the backfill sorts before the cursor, and its webhook brings it instead.
  list: {
    defaultBase: 'https://api.stripe.com',
    path: '/v1/customers',
    limitParam: 'limit',
    pageSize: 100,
    afterParam: 'starting_after',
    itemsPointer: '/data',
    hasMorePointer: '/has_more',
    keyPointer: '/id',
    apiKeyPattern: /^(sk|rk)_(test|live)_[A-Za-z0-9]+$/,
    apiKeyExample: 'sk_live_… (or a restricted rk_live_… key that may read customers)',
    timestampResolutionMs: 1000,
  },
  testEvent({ key, deleted, now, secret }) {
    const created = Math.floor(now.getTime() / 1000);
    const event = {
      id: `evt_test_${crypto.randomBytes(12).toString('hex')}`,
      object: 'event',
      created,
      livemode: false,
      type: deleted ? 'customer.deleted' : 'customer.updated',
      data: { object: { id: key, object: 'customer', balance: 0, created, email: 'test@example.com', name: 'Test customer', phone: null } },
    };
    return signStripeEvent(JSON.stringify(event), secret, created);
  },
  setupSteps: (webhookUrl, id) => [
    `In the Stripe Dashboard (Developers → Webhooks), add an endpoint with the URL ${webhookUrl} for the events customer.created, customer.updated and customer.deleted.`,
    `Copy its signing secret (whsec_…), run: hooksync integrations update ${id} --webhook-secret - and paste it (it is not shown)`,
    `Then send data on with: hooksync httpsync create ${id}`,
  ],
};
