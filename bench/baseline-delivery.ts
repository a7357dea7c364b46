/**
 * The plain loop hooksync's delivery is compared with, as a developer writes it by hand: pages by
 * pk (the same rows rendered as the same JSON), the same body, the same HTTP client (postPage,
 * HTTPS with Basic Auth, no signing), one POST at a time, its cursor stored in a table after each
 * page. No Temporal.
 *
 * Env: DATABASE_URL. Driven over IPC: {run: {service, table, integrationId, url, pageSize, target}}
 * → {done: {rows, pages, ms, startedAt}} (startedAt: the first query, epoch ms) or {error}.
 */
import pg from 'pg';
import { findDescriptor } from '../src/integrations';
import { ident, rowColumns } from '../src/integrations/sql';
import type { IntegrationDescriptor } from '../src/integrations/types';
import { postPage } from '../src/http/post-page';
import { parseTargetUrl } from '../src/http/target-url';

interface RunMessage {
  run: { service: string; table: string; integrationId: string; url: string; pageSize: number; target: string };
}

/** The next page after a pk, each row rendered as hooksync renders it. */
function pageByPkSql(d: IntegrationDescriptor, table: string): string {
  const fields = ['pk', ...rowColumns(d).map((c) => c.name)].map((n) => `'${n}', ${ident(n)}`).join(', ');
  return `SELECT pk::text AS after, json_build_object(${fields})::text AS json FROM ${ident(table)} WHERE pk > $1 ORDER BY pk LIMIT $2`;
}

async function run({ service, table, integrationId, url, pageSize, target }: RunMessage['run'], db: pg.Client) {
  const descriptor = findDescriptor(service)!;
  const query = pageByPkSql(descriptor, table);
  const endpoint = parseTargetUrl(url, { allowHttp: false });
  await db.query('CREATE TABLE IF NOT EXISTS bench_loop_cursors (route text PRIMARY KEY, pk bigint NOT NULL)');
  const startedAt = performance.timeOrigin + performance.now();
  const started = performance.now();
  let cursor = '0';
  let rows = 0;
  let pages = 0;
  for (;;) {
    const res = await db.query<{ after: string; json: string }>(query, [cursor, pageSize]);
    if (res.rows.length === 0) break;
    const last = res.rows[res.rows.length - 1]!;
    const body =
      `{"rows":[${res.rows.map((r) => r.json).join(',')}],"integration_id":${JSON.stringify(integrationId)},` +
      `"integration_service":${JSON.stringify(service)},"table":${JSON.stringify(table)},"sync_timestamp":${JSON.stringify(new Date().toISOString())}}`;
    const outcome = await postPage(
      endpoint,
      body,
      { 'hooksync-page-id': `${target}:${cursor}-${last.after}`, 'hooksync-target-id': target },
      60_000,
    );
    if (!outcome.ok) throw new Error(outcome.error);
    cursor = last.after;
    await db.query('INSERT INTO bench_loop_cursors (route, pk) VALUES ($1, $2) ON CONFLICT (route) DO UPDATE SET pk = excluded.pk', [target, cursor]);
    rows += res.rows.length;
    pages += 1;
  }
  return { rows, pages, ms: performance.now() - started, startedAt };
}

async function main(): Promise<void> {
  const db = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await db.connect();
  process.on('message', (msg: RunMessage | { exit: true }) => {
    if ('exit' in msg) {
      void db.end().finally(() => process.exit(0));
      return;
    }
    run(msg.run, db).then(
      (done) => process.send!({ done }),
      (err: Error) => process.send!({ error: err.message }),
    );
  });
  process.once('SIGTERM', () => process.exit(0));
  process.send!({ ready: true });
}

main().catch((err) => {
  process.stderr.write(`baseline-delivery: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
