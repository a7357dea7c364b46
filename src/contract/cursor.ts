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
