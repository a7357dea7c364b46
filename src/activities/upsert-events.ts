import { log } from '@temporalio/activity';
import type pg from 'pg';
import { integrationRef } from '../db/integration-tables';
import { newestPerKey, upsertParams, upsertSql } from '../integrations/sql';
import type { IngestRecord, IntegrationDescriptor } from '../integrations/types';
import { eventsApplied } from '../metrics';
import type { UpsertResult } from '../workflows/types';

export interface UpsertInput {
  integrationId: string;
  records: IngestRecord[];
}

/**
 * One statement per batch: the conditional upsert, and (only when it changed rows) the on-insert
 * targets to wake, in a single round trip.
 */
function statement(d: IntegrationDescriptor, table: string): string {
  return `WITH up AS (${upsertSql(d, table)} RETURNING 1)
SELECT (SELECT count(*) FROM up)::int AS applied,
       CASE WHEN EXISTS (SELECT 1 FROM up)
            THEN ARRAY(SELECT id FROM sync_targets
                        WHERE integration_id = $2 AND mode = 'on_insert' AND NOT paused AND deleted_at IS NULL)
            ELSE '{}'::text[] END AS targets`;
}

// SQLSTATE class 22 (data exception) and 23 (integrity): the data is at fault, retrying won't help.
const isDataError = (err: unknown) => /^2[23]/.test((err as { code?: string }).code ?? '');

export function createUpsertEvents({ pool }: { pool: pg.Pool }) {
  const statements = new Map<string, string>();
  return async function upsertEvents({ integrationId, records }: UpsertInput): Promise<UpsertResult> {
    const ref = await integrationRef(pool, integrationId);
    if (!ref) {
      // The integration was removed: nothing to write into.
      log.warn('integration gone; dropping events', { integrationId, events: records.length });
      return { applied: 0, discarded: 0, rejected: records.length, onInsertTargets: [] };
    }
    let sql = statements.get(integrationId);
    if (!sql) statements.set(integrationId, (sql = statement(ref.descriptor, ref.table)));
    const rows = newestPerKey(records);
    const run = async (batch: IngestRecord[]) => {
      const res = await pool.query<{ applied: number; targets: string[] }>(sql, [upsertParams(ref.descriptor, batch), integrationId]);
      return res.rows[0]!;
    };
    let applied = 0;
    let rejected = 0;
    const targets = new Set<string>();
    try {
      const r = await run(rows);
      applied = r.applied;
      r.targets.forEach((t) => targets.add(t));
    } catch (err) {
      if (!isDataError(err)) throw err;
      // One bad record must not block its shard: apply the others one by one, skip what is refused.
      for (const record of rows) {
        try {
          const r = await run([record]);
          applied += r.applied;
          r.targets.forEach((t) => targets.add(t));
        } catch (e) {
          if (!isDataError(e)) throw e;
          rejected += 1;
          log.error('record refused by the database; skipped', { integrationId, key: record.key, error: (e as Error).message });
        }
      }
    }
    const discarded = records.length - applied - rejected;
    eventsApplied.inc({ outcome: 'applied' }, applied);
    eventsApplied.inc({ outcome: 'discarded' }, discarded);
    if (rejected) eventsApplied.inc({ outcome: 'rejected' }, rejected);
    return { applied, discarded, rejected, onInsertTargets: [...targets] };
  };
}
