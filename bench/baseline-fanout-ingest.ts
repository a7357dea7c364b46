/**
 * The ingest in front of the plain fan-out loop: a bare node:http handler that verifies the same
 * Stripe signature with the same code as hooksync and runs one parameterized upsert per request
 * (the same conditional upsert, `upsertEventSql`) straight into its own table before answering 200.
 * No framework, no Temporal, no inbox, no grouping.
 *
 * Env: DATABASE_URL, PORT (0 = any), BENCH_TABLE (made with createTableSql), BENCH_SECRET,
 * BENCH_POOL (connections, default 20 like the API's pool).
 */
import type http from 'node:http';
import { serveBaseline } from './baseline-server';
import { createPool } from '../src/db/pool';
import { stripeCustomerV1 } from '../src/integrations/stripe-customer-v1';
import { precedenceOf, upsertEventSql } from '../src/integrations/sql';

serveBaseline('baseline-fanout-ingest', async () => {
  const descriptor = stripeCustomerV1;
  const { BENCH_TABLE: table, BENCH_SECRET: secret, DATABASE_URL: url } = process.env;
  if (!table || !secret || !url) throw new Error('DATABASE_URL, BENCH_TABLE and BENCH_SECRET must be set');
  const pool = createPool(url, Number(process.env.BENCH_POOL ?? 20));
  const sql = upsertEventSql(descriptor, table);

  const answer = (res: http.ServerResponse, status: number, body?: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(body === undefined ? undefined : JSON.stringify(body));
  };
  const handle = async (raw: Buffer, req: http.IncomingMessage, res: http.ServerResponse) => {
    const verified = await descriptor.verify(raw, req.headers, secret, {});
    if (!verified.ok) return answer(res, 401, { code: verified.reason });
    const text = raw.toString('utf8');
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return answer(res, 400);
    }
    const meaning = descriptor.interpret(body, { headers: req.headers, config: {} });
    if (meaning.kind === 'invalid') return answer(res, 400, { code: 'invalid_event' });
    if (meaning.kind === 'record') {
      try {
        const r = meaning.record;
        await pool.query(sql, [text, r.key, r.ts, precedenceOf(descriptor, r.change), r.deleted]);
      } catch {
        return answer(res, 503);
      }
    }
    answer(res, 200, { received: true });
  };

  const handler: http.RequestListener = (req, res) => {
    if (req.method !== 'POST' || !req.url?.startsWith('/v1/webhooks/')) return answer(res, 404);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => void handle(Buffer.concat(chunks), req, res).catch(() => answer(res, 500)));
  };
  return { handler, close: () => pool.end() };
});
