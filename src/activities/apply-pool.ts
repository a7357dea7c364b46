import type pg from 'pg';
import { createPool } from '../db/pool';

const CONNECTIONS = 10;

/**
 * The applies' own connections, to the same database: a locked table or a stuck statement fails
 * within these bounds instead of holding a connection for ever, and a commit does not wait for
 * the disk. A commit lost in a crash loses the upsert and the inbox delete together (one
 * statement), so the rows are applied again. Kept apart from the pool the deliveries use.
 */
export function applyPool(databaseUrl: string): pg.Pool {
  // createPool's keepalive and error listeners too: a restarting server must not crash the worker.
  return createPool(databaseUrl, CONNECTIONS, {
    lock_timeout: 5_000,
    statement_timeout: 60_000,
    options: '-c synchronous_commit=off',
    idleTimeoutMillis: 10_000,
    // Idle connections do not keep a process alive that is otherwise done.
    allowExitOnIdle: true,
  });
}
