import crypto from 'node:crypto';
import type pg from 'pg';
import Stripe from 'stripe';

/**
 * Signed Stripe customer events, as a busy account sends them: many customers, a few of them hot,
 * creations then updates then the odd deletion, and some events out of order (an older version
 * arriving after a newer one, which the upsert must discard). It keeps what the table must end
 * up holding for the events that were accepted, so a run can wait until the table reflects them.
 * And a backlog of such customers written straight into a table, for delivery to drain.
 */

const ALPHANUM = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const FIRST = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken', 'Margaret', 'Dennis', 'Radia', 'Leslie'];
const LAST = ['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Knuth', 'Allen', 'Thompson', 'Hamilton', 'Ritchie', 'Perlman', 'Lamport'];
const CITIES = [
  ['Berlin', 'DE', '10115'],
  ['Lyon', 'FR', '69001'],
  ['Austin', 'US', '78701'],
  ['Osaka', 'JP', '530-0001'],
  ['Toronto', 'CA', 'M5H 2N2'],
  ['Porto', 'PT', '4000-322'],
] as const;
const PLANS = ['free', 'starter', 'pro', 'enterprise'];

function stripeLikeId(prefix: string, seed: string, length = 14): string {
  const bytes = crypto.createHash('sha256').update(seed).digest();
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHANUM[bytes[i]! % ALPHANUM.length];
  return `${prefix}_${out}`;
}

export interface CustomerStreamOptions {
  /** Keeps ids of different streams apart (one stream per table). */
  name: string;
  customers: number;
  secret: string;
  /** Share of events that are an older version of a customer than one already sent. */
  outOfOrder?: number;
  deletions?: number;
}

export interface SignedEvent {
  body: string;
  signature: string;
  key: string;
  /** Upstream time of this version, seconds. */
  ts: number;
  kind: 'created' | 'updated' | 'deleted' | 'stale';
  /** Call when the endpoint accepted it (2xx): the table must then reflect it. */
  accepted(): void;
}

export class CustomerStream {
  private readonly ids: string[];
  /** Newest version generated per customer (seconds), 0 = none yet. */
  private readonly newest: Float64Array;
  private readonly createdAt: Float64Array;
  /** Newest version accepted per customer. */
  private readonly acceptedTs: Float64Array;
  private readonly deleted: Uint8Array;
  private readonly base: number;
  private expectedRows = 0;
  private expectedSum = 0;
  private eventSeq = 0;
  private readonly eventPrefix: string;
  readonly counts = { created: 0, updated: 0, deleted: 0, stale: 0 };

  constructor(private readonly opts: CustomerStreamOptions) {
    this.eventPrefix = stripeLikeId('x', `${opts.name}/events`, 12).slice(2);
    this.ids = Array.from({ length: opts.customers }, (_, i) => stripeLikeId('cus', `${opts.name}/${i}`));
    this.newest = new Float64Array(opts.customers);
    this.createdAt = new Float64Array(opts.customers);
    this.acceptedTs = new Float64Array(opts.customers);
    this.deleted = new Uint8Array(opts.customers);
    // Versions start 30 days ago and move a few seconds per change: never in the future.
    this.base = Math.floor(Date.now() / 1000) - 30 * 86400;
  }

  /** What the table must hold: rows, and the sum of their `updated` (epoch seconds). */
  expected(): { rows: number; sumTs: number } {
    return { rows: this.expectedRows, sumTs: this.expectedSum };
  }

  private pick(): number {
    const n = this.opts.customers;
    for (;;) {
      // A third of the traffic goes to the hottest 1% of customers.
      const c = Math.random() < 0.33 ? Math.floor(Math.random() * Math.max(1, Math.floor(n / 100))) : Math.floor(Math.random() * n);
      if (!this.deleted[c]) return c;
    }
  }

  /** The next event, optionally tagged (data.object.metadata.bench_seq) to recognise it at the receiver. */
  next(tag?: number, customer?: number): SignedEvent {
    const c = customer ?? this.pick();
    let kind: SignedEvent['kind'];
    let ts: number;
    const last = this.newest[c]!;
    if (last === 0) {
      kind = 'created';
      ts = this.base + 1 + Math.floor(Math.random() * 3600);
      this.createdAt[c] = ts;
      this.newest[c] = ts;
    } else if (tag === undefined && last - this.createdAt[c]! >= 2 && Math.random() < (this.opts.outOfOrder ?? 0.1)) {
      // An older version, delivered late (Stripe does not guarantee order).
      kind = 'stale';
      ts = last - 1 - Math.floor(Math.random() * Math.min(30, last - this.createdAt[c]! - 1));
    } else {
      kind = tag === undefined && Math.random() < (this.opts.deletions ?? 0.005) ? 'deleted' : 'updated';
      ts = last + 1 + Math.floor(Math.random() * 5);
      this.newest[c] = ts;
      if (kind === 'deleted') this.deleted[c] = 1;
    }
    this.counts[kind] += 1;
    const body = JSON.stringify(this.event(c, kind, ts, tag));
    const signature = Stripe.webhooks.generateTestHeaderString({ payload: body, secret: this.opts.secret });
    return {
      body,
      signature,
      key: this.ids[c]!,
      ts,
      kind,
      accepted: () => {
        const prev = this.acceptedTs[c]!;
        if (prev === 0) {
          this.expectedRows += 1;
          this.expectedSum += ts;
          this.acceptedTs[c] = ts;
        } else if (ts > prev) {
          this.expectedSum += ts - prev;
          this.acceptedTs[c] = ts;
        }
      },
    };
  }

  /** A Stripe `customer.*` event (API version 2024-06-20 shape) for version `ts` of customer `c`. */
  private event(c: number, kind: SignedEvent['kind'], ts: number, tag: number | undefined) {
    const id = this.ids[c]!;
    const first = FIRST[c % FIRST.length]!;
    const last = LAST[(c * 7) % LAST.length]!;
    const [city, country, postal] = CITIES[c % CITIES.length]!;
    const version = ts - this.createdAt[c]!;
    const metadata: Record<string, string | number> = {
      plan: PLANS[(c + version) % PLANS.length]!,
      account_id: `acct_${(c * 2654435761) % 1e9}`,
      signup_source: c % 3 === 0 ? 'web' : c % 3 === 1 ? 'ios' : 'sales',
    };
    if (tag !== undefined) metadata.bench_seq = tag;
    const customer = {
      id,
      object: 'customer',
      address: { city, country, line1: `${(c % 400) + 1} Main Street`, line2: version % 2 ? `Apt ${version % 50}` : null, postal_code: postal, state: null },
      balance: ((c * 31 + version * 17) % 20000) - 5000,
      created: this.createdAt[c]!,
      currency: country === 'US' ? 'usd' : country === 'JP' ? 'jpy' : 'eur',
      default_source: null,
      delinquent: version % 11 === 0,
      description: `${first} ${last}, customer since version ${version}`,
      discount: null,
      email: `${first}.${last}.${c}@example.com`.toLowerCase(),
      invoice_prefix: id.slice(4, 12).toUpperCase(),
      invoice_settings: { custom_fields: null, default_payment_method: `pm_1Q${id.slice(4)}${id.slice(4, 12)}`, footer: null, rendering_options: null },
      livemode: false,
      metadata,
      name: `${first} ${last}`,
      next_invoice_sequence: 1 + (version % 40),
      phone: c % 4 === 0 ? null : `+1555${String(c % 10_000_000).padStart(7, '0')}`,
      preferred_locales: [country === 'FR' ? 'fr' : country === 'DE' ? 'de' : 'en'],
      shipping: null,
      tax_exempt: 'none',
      test_clock: null,
    };
    const eventId = `evt_1Q${this.eventPrefix}${(this.eventSeq++).toString(36).padStart(10, '0')}`;
    return {
      id: eventId,
      object: 'event',
      api_version: '2024-06-20',
      created: ts,
      data: kind === 'updated' || kind === 'stale' ? { object: customer, previous_attributes: { balance: customer.balance + 100 } } : { object: customer },
      livemode: false,
      pending_webhooks: 1,
      request: { id: `req_${eventId.slice(-14)}`, idempotency_key: crypto.randomUUID() },
      type: kind === 'created' ? 'customer.created' : kind === 'deleted' ? 'customer.deleted' : 'customer.updated',
    };
  }
}

/**
 * A backlog of Stripe customers written straight into the integration's table, in transactions of
 * 10,000 rows (so the cursor crosses transactions), with `data` shaped like Stripe's customer object.
 */
export async function insertCustomerBacklog(pool: pg.Pool, table: string, rows: number): Promise<void> {
  const chunk = 10_000;
  for (let from = 1; from <= rows; from += chunk) {
    const to = Math.min(rows, from + chunk - 1);
    await pool.query(
      `WITH g AS (
         SELECT i, 'cus_' || substr(md5('bench' || i), 1, 14) AS id, md5('name' || i) AS h,
                (extract(epoch FROM now())::bigint - 86400 * 400 + (i * 337) % (86400 * 365)) AS created
           FROM generate_series($1::int, $2::int) AS i
       )
       INSERT INTO "${table}" (stripe_id, balance, created, email, name, phone, updated, deleted, data)
       SELECT id, (i * 31) % 20000 - 5000, to_timestamp(created), 'customer' || i || '@example.com',
              initcap(substr(h, 1, 6)) || ' ' || initcap(substr(h, 7, 9)),
              CASE WHEN i % 4 = 0 THEN NULL ELSE '+1555' || lpad((i % 10000000)::text, 7, '0') END,
              to_timestamp(created + i % 86400), false,
              jsonb_build_object(
                'id', id, 'object', 'customer',
                'address', jsonb_build_object('city', (ARRAY['Berlin','Lyon','Austin','Osaka','Toronto','Porto'])[1 + i % 6],
                                              'country', (ARRAY['DE','FR','US','JP','CA','PT'])[1 + i % 6],
                                              'line1', (i % 400 + 1) || ' Main Street', 'line2', NULL,
                                              'postal_code', lpad((i % 99999)::text, 5, '0'), 'state', NULL),
                'balance', (i * 31) % 20000 - 5000, 'created', created, 'currency', 'eur',
                'default_source', NULL, 'delinquent', i % 11 = 0,
                'description', 'Customer ' || i || ' imported from the legacy billing system', 'discount', NULL,
                'email', 'customer' || i || '@example.com', 'invoice_prefix', upper(substr(h, 10, 8)),
                'invoice_settings', jsonb_build_object('custom_fields', NULL, 'default_payment_method', 'pm_1Q' || substr(h, 1, 22),
                                                       'footer', NULL, 'rendering_options', NULL),
                'livemode', false,
                'metadata', jsonb_build_object('plan', (ARRAY['free','starter','pro','enterprise'])[1 + i % 4],
                                               'account_id', 'acct_' || (i * 2654435761::bigint) % 1000000000, 'signup_source', 'web'),
                'name', initcap(substr(h, 1, 6)) || ' ' || initcap(substr(h, 7, 9)),
                'next_invoice_sequence', 1 + i % 40,
                'phone', CASE WHEN i % 4 = 0 THEN NULL ELSE '+1555' || lpad((i % 10000000)::text, 7, '0') END,
                'preferred_locales', jsonb_build_array('en'), 'shipping', NULL, 'tax_exempt', 'none', 'test_clock', NULL)
         FROM g`,
      [from, to],
    );
  }
  // As autovacuum would have, long before a real backlog is delivered: neither contender pays
  // for setting hint bits or planning without statistics.
  await pool.query(`VACUUM ANALYZE "${table}"`);
}
