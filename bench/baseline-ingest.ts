/**
 * The plain handler hooksync's ingest is compared with: a minimal Koa app that verifies the same
 * Stripe signature with the same code, reduces the event with the same descriptor and runs the
 * same conditional upsert (the same SQL-side extraction of the columns from the body), one event
 * per request, straight into PostgreSQL, before answering 200. No Temporal, no inbox, no grouping.
 *
 * Env: DATABASE_URL, PORT (0 = any), BENCH_TABLE (made with createTableSql), BENCH_SECRET,
 * BENCH_POOL (connections, default 20 like the API's pool).
 */
import Router from '@koa/router';
import Koa from 'koa';
import { createPool } from '../src/db/pool';
import { readRawBody } from '../src/api/raw-body';
import { stripeCustomerV1 } from '../src/integrations/stripe-customer-v1';
import { precedenceOf, upsertEventSql } from '../src/integrations/sql';
import { serveBaseline } from './baseline-server';

serveBaseline('baseline-ingest', async () => {
  const descriptor = stripeCustomerV1;
  const { BENCH_TABLE: table, BENCH_SECRET: secret, DATABASE_URL: url } = process.env;
  if (!table || !secret || !url) throw new Error('DATABASE_URL, BENCH_TABLE and BENCH_SECRET must be set');
  const pool = createPool(url, Number(process.env.BENCH_POOL ?? 20));
  const sql = upsertEventSql(descriptor, table);

  const app = new Koa();
  const router = new Router();
  router.post('/v1/webhooks/:integrationId', async (ctx) => {
    const raw = await readRawBody(ctx);
    const verified = await descriptor.verify(raw, ctx.req.headers, secret, {});
    if (!verified.ok) {
      ctx.status = 401;
      ctx.body = { code: verified.reason };
      return;
    }
    const text = raw.toString('utf8');
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      ctx.status = 400;
      return;
    }
    const meaning = descriptor.interpret(body, { headers: ctx.req.headers, config: {} });
    if (meaning.kind === 'invalid') {
      ctx.status = 400;
      ctx.body = { code: 'invalid_event' };
      return;
    }
    if (meaning.kind === 'record') {
      try {
        const r = meaning.record;
        await pool.query(sql, [text, r.key, r.ts, precedenceOf(descriptor, r.change), r.deleted]);
      } catch {
        ctx.status = 503;
        return;
      }
    }
    ctx.status = 200;
    ctx.body = { received: true };
  });
  app.use(router.routes());

  // Koa's callback settles every request itself.
  const callback = app.callback();
  return { handler: (req, res) => void callback(req, res), close: () => pool.end() };
});
