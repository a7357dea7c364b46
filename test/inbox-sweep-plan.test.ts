import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { deadLetter, pruneSeenEvents, staleShards } from '../src/db/inbox';
import { orphanedDeadLetters, orphanedShards, removeLeftovers } from '../src/db/orphans';
import { migratedSchema, type Schema } from './support/database';

// The inbox sweep runs every 5 s in every worker, and most often when the inbox is largest (during
// a Temporal outage): each of its queries finds its shards through an index, never by reading
// the whole inbox. A million inbox rows in a schema of this file's own; EXPLAIN of every query.

const ROWS = 1_000_000;

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}
const nodes = (n: PlanNode): PlanNode[] => [n, ...(n.Plans ?? []).flatMap(nodes)];

describe('inbox sweep: index lookups only, with a million rows in the inbox', { timeout: 300_000 }, () => {
  let schema: Schema;
  let pool: pg.Pool;

  before(async () => {
    schema = await migratedSchema(process.env.DATABASE_URL!, 'sweepplan');
    pool = new pg.Pool({ connectionString: schema.url, max: 2 });
    await pool.query(`INSERT INTO integrations (id, service, table_name)
                      SELECT 'svi_live' || g, 'stripe_customer_v1', 'stripe_customer_v1_' || g FROM generate_series(1, 3) g`);
    // 50 integrations of 8 shards, three of them alive, the rest deleted: 400 shards.
    await pool.query(
      `INSERT INTO ingest_inbox (integration_id, shard, remote_key, version_at, precedence, deleted, body, received_at)
       SELECT 'svi_' || CASE WHEN g % 50 < 3 THEN 'live' || (g % 50 + 1) ELSE 'gone' || (g % 50) END, (g / 50) % 8,
              'cus_' || g, now(), 1, false, '{}', now() - interval '1 minute'
         FROM generate_series(1, $1) g`,
      [ROWS],
    );
    await pool.query(
      `INSERT INTO ingest_dead_letters (integration_id, shard, remote_key, version_at, precedence, deleted, body, received_at, error)
       SELECT 'svi_' || CASE WHEN g % 20 < 3 THEN 'live' || (g % 20 + 1) ELSE 'gone' || (g % 20) END, 0, 'cus_' || g, now(), 1, false, '{}', now(), 'e'
         FROM generate_series(1, 100000) g`,
    );
    await pool.query('ANALYZE ingest_inbox; ANALYZE ingest_dead_letters; ANALYZE integrations');
  });
  after(async () => {
    await pool?.end();
    await schema?.drop();
  });

  /** A Queryable that EXPLAINs each statement instead of running it. */
  function explaining(): { db: Pick<pg.Pool, 'query'>; plans: Array<{ sql: string; plan: PlanNode }> } {
    const plans: Array<{ sql: string; plan: PlanNode }> = [];
    const db = {
      query: async (sql: string, params?: unknown[]) => {
        const { rows } = await pool.query(`EXPLAIN (FORMAT JSON) ${sql}`, params);
        plans.push({ sql, plan: rows[0]['QUERY PLAN'][0].Plan });
        return { rows: [], rowCount: 0 };
      },
    } as unknown as Pick<pg.Pool, 'query'>;
    return { db, plans };
  }

  test('EXPLAIN of every sweep query shows no sequential scan of ingest_inbox or ingest_dead_letters', async () => {
    assert.equal(Number((await pool.query('SELECT count(*) FROM ingest_inbox')).rows[0].count), ROWS);
    const { db, plans } = explaining();
    await orphanedShards(db);
    await orphanedDeadLetters(db);
    await staleShards(db, 5);
    await removeLeftovers(db, 'svi_gone7', 3);
    await removeLeftovers(db, 'svi_gone7');
    await deadLetter(db, 'svi_live1', 2, null, 'why');
    await pruneSeenEvents(db, new Map([['standard_webhooks_v1', 7]]));
    assert.ok(plans.length >= 6, `${plans.length} statements`);
    for (const { sql, plan } of plans) {
      const scans = nodes(plan).filter((n) => n['Node Type'] === 'Seq Scan' && /^ingest_(inbox|dead_letters)$/.test(n['Relation Name'] ?? ''));
      assert.deepEqual(scans, [], `a sequential scan in\n${sql}\n${JSON.stringify(plan, null, 1).slice(0, 3000)}`);
    }
  });

  test('the loose index scans find exactly the shards and dead letters of integrations that are gone, and the sweep removes them', async () => {
    const shards = await orphanedShards(pool);
    assert.equal(shards.length, 47 * 8);
    assert.ok(shards.every((s) => s.integrationId.startsWith('svi_gone')));
    const letters = await orphanedDeadLetters(pool);
    assert.deepEqual(letters.sort(), Array.from({ length: 17 }, (_, i) => `svi_gone${i + 3}`).sort());
    const before = Number((await pool.query(`SELECT count(*) FROM ingest_inbox WHERE integration_id = 'svi_gone7' AND shard = 3`)).rows[0].count);
    const lettersBefore = Number((await pool.query(`SELECT count(*) FROM ingest_dead_letters WHERE integration_id = 'svi_gone7'`)).rows[0].count);
    assert.ok(before > 0 && lettersBefore > 0);
    assert.equal(await removeLeftovers(pool, 'svi_gone7', 3), before + lettersBefore);
    // A live integration keeps everything.
    assert.equal(await removeLeftovers(pool, 'svi_live1'), 0);
    assert.ok(!(await orphanedShards(pool)).some((s) => s.integrationId === 'svi_gone7' && s.shard === 3));
    assert.ok(!(await orphanedDeadLetters(pool)).includes('svi_gone7'));
  });
});
