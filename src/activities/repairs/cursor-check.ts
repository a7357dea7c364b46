import { targetsWithCursorAhead } from '../../db/targets';
import { logger } from '../../log';
import { cursorAheadWarning } from '../../contract/cursor';
import type { RepairContext } from './context';

/** Logged once per target and process; the reconciler's details and `info` show it every time. */
const reported = new Set<string>();

/**
 * A database restored into another cluster (or a rebuilt cluster) hands out transaction ids
 * below the cursors of its targets: rows written there would sort before the cursor and never be
 * sent. Nothing can tell which rows the receiver already has, so this reports it (logs, `info`,
 * the target's details) and leaves the fix to the operator: `hooksync httpsync reset --from-start`.
 */
export async function checkCursors(ctx: Pick<RepairContext, 'pool'>): Promise<string> {
  const ahead = await targetsWithCursorAhead(ctx.pool);
  for (const t of ahead) {
    if (reported.has(t.id)) continue;
    reported.add(t.id);
    logger.error({ targetId: t.id, cursor: `${t.cursor.txid}/${t.cursor.seq}`, nextTxid: t.nextTxid }, cursorAheadWarning(t.id, t.cursor, t.nextTxid));
  }
  if (ahead.length === 0) return 'every cursor is behind the database\'s transaction counter';
  return `${ahead.length} target(s) with a cursor ahead of this database (restored or moved?): ${ahead.map((t) => t.id).join(', ')}; see hooksync httpsync info`;
}
