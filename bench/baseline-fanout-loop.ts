/**
 * The plain fan-out loop hooksync's on-insert targets are compared with. Every 100 ms, for all
 * routes at once, each route that is not still busy reads its rows after its cursor by pk (200 at
 * a time), POSTs them over HTTPS with Basic Auth (no signing; the same HTTP client, postPage), one
 * POST at a time per route, and stores the route's cursor in PostgreSQL after each page, until no
 * row is left. No Temporal.
 *
 * A pk cursor is what such loops use, and it can pass a row whose transaction commits after a
 * later pk's did: that row is never sent. The bench reports such rows as missing.
 *
 * Env: DATABASE_URL, BENCH_POOL (connections, default 10). Driven over IPC:
 * {start: {table, routesTable, url, integrationId, service}} → {started: {routes}};
 * {counts: true} → {counts: {drains, pages, rows, failures}} (so far); {stop: true} → {stopped: (the same)}.
 */
import pg from 'pg';
import { findDescriptor } from '../src/integrations';
import { ident, rowColumns } from '../src/integrations/sql';
import { postPage } from '../src/http/post-page';
import { parseTargetUrl } from '../src/http/target-url';

const TICK_MS = 100;
const PAGE_SIZE = 200;

interface Start {
  table: string;
  /** (route text primary key, after_pk bigint): one row per route, its cursor. */
  routesTable: string;
  url: string;
  integrationId: string;
  service: string;
}

type Message = { start: Start } | { counts: true } | { stop: true };

/** What one run of the loop did: drains that found rows, pages POSTed, rows in them, failed POSTs. */
type Counts = { drains: number; pages: number; rows: number; failures: number };

async function startLoop(pool: pg.Pool, s: Start) {
  const descriptor = findDescriptor(s.service);
  if (!descriptor) throw new Error(`unknown service ${s.service}`);
  const fields = ['pk', ...rowColumns(descriptor).map((c) => c.name)].map((n) => `'${n}', ${ident(n)}`).join(', ');
  const pageQuery = `SELECT pk::text AS pk, json_build_object(${fields})::text AS json FROM ${ident(s.table)} WHERE pk > $1 ORDER BY pk LIMIT ${PAGE_SIZE}`;
  const storeCursor = `UPDATE ${ident(s.routesTable)} SET after_pk = $2 WHERE route = $1`;
  const endpoint = parseTargetUrl(s.url, { allowHttp: false });
  const head = `{"integration_id":${JSON.stringify(s.integrationId)},"integration_service":${JSON.stringify(s.service)},"table":${JSON.stringify(s.table)},"rows":[`;

  const { rows: routeRows } = await pool.query<{ route: string; cursor: string }>(`SELECT route, after_pk::text AS cursor FROM ${ident(s.routesTable)} ORDER BY route`);
  const routes = routeRows.map((r) => ({ name: r.route, cursor: r.cursor, busy: false }));
  const counts: Counts = { drains: 0, pages: 0, rows: 0, failures: 0 };

  const drain = async (route: (typeof routes)[number]) => {
    let found = false;
    for (;;) {
      const { rows } = await pool.query<{ pk: string; json: string }>(pageQuery, [route.cursor]);
      if (rows.length === 0) break;
      found = true;
      const last = rows[rows.length - 1]!.pk;
      const body = `${head}${rows.map((r) => r.json).join(',')}],"sync_timestamp":${JSON.stringify(new Date().toISOString())}}`;
      const outcome = await postPage(
        endpoint,
        body,
        { 'hooksync-page-id': `${route.name}:${route.cursor}-${last}`, 'hooksync-target-id': route.name },
        60_000,
      );
      if (!outcome.ok) {
        counts.failures += 1;
        process.stderr.write(`baseline-fanout-loop: ${route.name}: ${outcome.error}\n`);
        break; // again at the next tick
      }
      route.cursor = last;
      await pool.query(storeCursor, [route.name, last]);
      counts.pages += 1;
      counts.rows += rows.length;
    }
    if (found) counts.drains += 1;
  };

  const tick = () => {
    for (const route of routes) {
      if (route.busy) continue;
      route.busy = true;
      drain(route)
        .catch((err: Error) => {
          counts.failures += 1;
          process.stderr.write(`baseline-fanout-loop: ${route.name}: ${err.message}\n`);
        })
        .finally(() => (route.busy = false));
    }
  };
  const timer = setInterval(tick, TICK_MS);
  return {
    routes: routes.length,
    counts: () => ({ ...counts }),
    /** Stops the timer and waits for the drains under way. */
    async stop(): Promise<Counts> {
      clearInterval(timer);
      while (routes.some((r) => r.busy)) await new Promise((r) => setTimeout(r, 10));
      return counts;
    },
  };
}

async function main(): Promise<void> {
  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.BENCH_POOL ?? 10) });
  let loop: Awaited<ReturnType<typeof startLoop>> | undefined;
  const reply = (p: Promise<unknown>, key: string) =>
    p.then(
      (v) => process.send!({ [key]: v }),
      (err: Error) => process.send!({ error: err.message }),
    );
  process.on('message', (msg: Message) => {
    if ('start' in msg) {
      void reply(
        (async () => {
          await loop?.stop();
          loop = await startLoop(pool, msg.start);
          return { routes: loop.routes };
        })(),
        'started',
      );
    } else if ('counts' in msg) {
      process.send!({ counts: loop?.counts() ?? { drains: 0, pages: 0, rows: 0, failures: 0 } });
    } else {
      const running = loop;
      loop = undefined;
      void reply(running ? running.stop() : Promise.resolve({ drains: 0, pages: 0, rows: 0, failures: 0 }), 'stopped');
    }
  });
  process.once('SIGTERM', () => void pool.end().finally(() => process.exit(0)));
  process.send!({ ready: true });
}

main().catch((err) => {
  process.stderr.write(`baseline-fanout-loop: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
