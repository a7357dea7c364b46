/**
 * The plain loop hooksync's delivery is compared with: the same page query (pageSql), the same
 * body, the same HTTP client (postPage), one page after the other, no Temporal, no bookkeeping.
 *
 * Env: DATABASE_URL. Driven over IPC: {run: {service, table, integrationId, url, pageSize, target}}
 * → {done: {rows, pages, ms}} or {error}.
 */
import pg from 'pg';
import { findDescriptor } from '../src/integrations';
import { pageSql } from '../src/integrations/read-sql';
import { postPage } from '../src/http/post-page';
import { parseTargetUrl } from '../src/http/target-url';

interface RunMessage {
  run: { service: string; table: string; integrationId: string; url: string; pageSize: number; target: string };
}

async function run({ service, table, integrationId, url, pageSize, target }: RunMessage['run'], db: pg.Client) {
  const descriptor = findDescriptor(service)!;
  const query = pageSql(descriptor, table);
  const endpoint = parseTargetUrl(url, { allowHttp: false });
  const started = performance.now();
  let cursor = { txid: '0', seq: '0' };
  let rows = 0;
  let pages = 0;
  for (;;) {
    const res = await db.query<{ txid: string; seq: string; json: string }>(query, [cursor.txid, cursor.seq, pageSize]);
    if (res.rows.length === 0) break;
    const last = res.rows[res.rows.length - 1]!;
    const body =
      `{"rows":[${res.rows.map((r) => r.json).join(',')}],"integration_id":${JSON.stringify(integrationId)},` +
      `"integration_service":${JSON.stringify(service)},"table":${JSON.stringify(table)},"sync_timestamp":${JSON.stringify(new Date().toISOString())}}`;
    const outcome = await postPage(
      endpoint,
      body,
      { 'hooksync-page-id': `${target}:${cursor.txid}.${cursor.seq}-${last.txid}.${last.seq}`, 'hooksync-target-id': target },
      60_000,
    );
    if (!outcome.ok) throw new Error(outcome.error);
    cursor = { txid: last.txid, seq: last.seq };
    rows += res.rows.length;
    pages += 1;
  }
  return { rows, pages, ms: performance.now() - started };
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
