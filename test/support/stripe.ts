import crypto from 'node:crypto';
import Stripe from 'stripe';

export type CustomerEventType = 'customer.created' | 'customer.updated' | 'customer.deleted';

export interface CustomerEventInput {
  type: CustomerEventType;
  /** The customer id, e.g. cus_Q1w2e3r4. */
  id: string;
  /** The event's `created` (epoch seconds): when the change happened at Stripe. */
  created: number;
  /** The customer's own `created`; defaults to the event's. */
  customerCreated?: number;
  email?: string | null;
  name?: string | null;
  phone?: string | null;
  balance?: number;
  description?: string | null;
  metadata?: Record<string, string>;
  /** For customer.updated: the changed fields' old values. */
  previousAttributes?: Record<string, unknown>;
  /** Defaults to a random evt_ id; reuse one to play a redelivery. */
  eventId?: string;
}

const randomId = (prefix: string, n = 14) => prefix + crypto.randomBytes(n).toString('base64url').replace(/[-_]/g, '').slice(0, n);

/** A Stripe event as Stripe sends it (API version 2024-06-20), carrying a whole customer object. */
export function customerEvent(input: CustomerEventInput): Record<string, any> {
  const customer = {
    id: input.id,
    object: 'customer',
    address: null,
    balance: input.balance ?? 0,
    created: input.customerCreated ?? input.created,
    currency: null,
    default_source: null,
    delinquent: false,
    description: input.description ?? null,
    discount: null,
    email: input.email ?? null,
    invoice_prefix: input.id.replace(/^cus_/, '').slice(0, 8).toUpperCase(),
    invoice_settings: { custom_fields: null, default_payment_method: null, footer: null, rendering_options: null },
    livemode: false,
    metadata: input.metadata ?? {},
    name: input.name ?? null,
    next_invoice_sequence: 1,
    phone: input.phone ?? null,
    preferred_locales: [],
    shipping: null,
    tax_exempt: 'none',
    test_clock: null,
  };
  return {
    id: input.eventId ?? randomId('evt_', 24),
    object: 'event',
    api_version: '2024-06-20',
    created: input.created,
    data: {
      object: customer,
      ...(input.type === 'customer.updated' && input.previousAttributes ? { previous_attributes: input.previousAttributes } : {}),
    },
    livemode: false,
    pending_webhooks: 1,
    request: { id: randomId('req_'), idempotency_key: crypto.randomUUID() },
    type: input.type,
  };
}

/** A `Stripe-Signature` header made by Stripe's own library. */
export function stripeSignature(payload: string, secret: string, timestamp?: number): string {
  return Stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp });
}

export interface PostEventOptions {
  /** Signature time in epoch seconds (default now), e.g. old to play a replay. */
  timestamp?: number;
  /** Send this Stripe-Signature instead of a valid one; null sends none. */
  signature?: string | null;
  /** Send these bytes instead of JSON.stringify(event), e.g. malformed JSON. */
  rawBody?: string | Buffer;
  headers?: Record<string, string>;
}

/** POSTs an event to the ingest endpoint, signed with `secret`, the way Stripe would. */
export async function postEvent(
  apiUrl: string,
  integrationId: string,
  event: unknown,
  secret: string,
  opts: PostEventOptions = {},
): Promise<{ status: number; headers: Headers; body: any }> {
  const payload = opts.rawBody ?? JSON.stringify(event);
  const signature = opts.signature === undefined ? stripeSignature(payload.toString(), secret, opts.timestamp) : opts.signature;
  const res = await fetch(`${apiUrl}/v1/webhooks/${integrationId}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
      ...(signature === null ? {} : { 'stripe-signature': signature }),
      ...opts.headers,
    },
    body: payload,
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // kept as text
  }
  return { status: res.status, headers: res.headers, body };
}
