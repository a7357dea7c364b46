/** Position in a table's change stream, shared by the database, the deliveries and the workflows. */

/** Position in a table's change stream: the last delivered row's (_txid, _seq), as decimal strings. */
export interface Cursor {
  txid: string;
  seq: string;
}

export const START_CURSOR: Cursor = { txid: '0', seq: '0' };

/**
 * The warning for a cursor that is at or past the next transaction id of the database: a dump
 * restored into another cluster (or a cluster rebuilt) starts its transaction counter lower, and
 * rows written there would sort before the cursor and never be sent.
 */
export function cursorAheadWarning(targetId: string, cursor: Cursor, nextTxid: string): string {
  return (
    `the cursor ${cursor.txid}/${cursor.seq} is ahead of this database's transaction counter (next id ${nextTxid}): ` +
    `it was restored or moved to another PostgreSQL cluster, and rows written since are not delivered. ` +
    `Deliver everything again with: hooksync httpsync reset ${targetId} --from-start`
  );
}

/**
 * The warning (and delivery error) for a database whose cursor generation is below the workflow's:
 * a backup from before a `reset`, a point-in-time restore. Its cursor cannot be trusted, and
 * delivering from the workflow's would send the same pages for ever (nothing is recorded under a
 * generation the database does not have): delivery stops until the operator resets.
 */
export function generationBehindWarning(targetId: string, databaseGeneration: number, workflowGeneration: number): string {
  return (
    `the database's cursor generation (${databaseGeneration}) is below the workflow's (${workflowGeneration}): ` +
    `it was restored from a backup taken before a reset, and delivery of this target is stopped. ` +
    `Deliver everything again with: hooksync httpsync reset ${targetId} --from-start`
  );
}
