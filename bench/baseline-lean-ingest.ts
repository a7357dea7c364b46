/**
 * The leanest ingest a developer writes by hand, hooksync's ingest is measured against: a bare
 * node:http server that verifies the Stripe signature with the `stripe` package, computes the
 * columns in JavaScript and runs one parameterized conditional upsert per request on a
 * 16-connection pool, answering 200 once it has committed. No framework, no inbox, no Temporal.
 * The table is hooksync's own shape (createTableSql), and the upsert stamps the same change-tracking
 * columns, so both write the same rows.
 *
 * Env: DATABASE_URL, PORT (0 = any), BENCH_TABLE, BENCH_SECRET, BENCH_POOL (default 16).
 */
import type http from 'node:http';
import pg from 'pg';
import Stripe from 'stripe';
import { serveBaseline } from './baseline-server';

const PRECEDENCE: Record<string, number> = { 'customer.created': 0, 'customer.updated': 1, 'customer.deleted': 2 };

serveBaseline('baseline-lean-ingest', async () => {
  const { BENCH_TABLE: table, BENCH_SECRET: secret, DATABASE_URL: url } = process.env;
  if (!table || !secret || !url) throw new Error('DATABASE_URL, BENCH_TABLE and BENCH_SECRET must be set');
  const pool = new pg.Pool({ connectionString: url, max: Number(process.env.BENCH_POOL ?? 16) });
  const stripe = new Stripe('sk_test_unused');
  const t = `"${table}"`;
  const sql = `INSERT INTO ${t} AS t (stripe_id, balance, created, email, name, phone, updated, deleted, data, _precedence)
    VALUES ($1, $2, to_timestamp($3), $4, $5, $6, to_timestamp($7), $8, $9, $10)
    ON CONFLICT (stripe_id) DO UPDATE SET balance = excluded.balance, created = excluded.created, email = excluded.email,
      name = excluded.name, phone = excluded.phone, updated = excluded.updated, deleted = excluded.deleted, data = excluded.data,
      _precedence = excluded._precedence, _txid = pg_current_xact_id(), _seq = nextval('${table}_seq'), _changed_at = now()
    WHERE t.updated < excluded.updated OR (t.updated = excluded.updated AND t._precedence < excluded._precedence)`;

  const answer = (res: http.ServerResponse, status: number) => res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
  const handle = async (raw: Buffer, req: http.IncomingMessage, res: http.ServerResponse) => {
    let event: Stripe.Event;
    try {
      event = stripe.webhooks.constructEvent(raw, req.headers['stripe-signature'] ?? '', secret);
    } catch {
      return answer(res, 401);
    }
    const precedence = PRECEDENCE[event.type];
    if (precedence === undefined) return answer(res, 200);
    const c = event.data.object as Stripe.Customer;
    try {
      await pool.query(sql, [
        c.id,
        c.balance ?? null,
        c.created ?? null,
        c.email ?? null,
        c.name ?? null,
        c.phone ?? null,
        event.created,
        event.type === 'customer.deleted',
        JSON.stringify(c),
        precedence,
      ]);
    } catch {
      return answer(res, 503);
    }
    answer(res, 200);
  };

  const handler: http.RequestListener = (req, res) => {
    if (req.method !== 'POST') return answer(res, 404);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => void handle(Buffer.concat(chunks), req, res).catch(() => answer(res, 500)));
  };
  return { handler, close: () => pool.end() };
});
