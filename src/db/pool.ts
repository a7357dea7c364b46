import pg from 'pg';

// bigint and xid8 come back as strings; keep them so (cursor values exceed 2^53 in long-lived clusters).
export type Pool = pg.Pool;

/**
 * TCP keepalive on both ends of every connection. A worker cut off from PostgreSQL (a network
 * partition, a host that vanished) would otherwise keep its sessions, and the delivery lock a
 * session holds, until the server notices by itself, which by the operating system's defaults
 * takes hours: the target would stall. With these the server drops such a session (and its
 * advisory locks) after about a minute of silence, and the client finds out its socket is dead.
 */
export const KEEPALIVE = { idleSeconds: 30, intervalSeconds: 10, count: 3 } as const;
const SERVER_KEEPALIVE_SQL =
  `SELECT set_config('tcp_keepalives_idle', '${KEEPALIVE.idleSeconds}', false), ` +
  `set_config('tcp_keepalives_interval', '${KEEPALIVE.intervalSeconds}', false), ` +
  `set_config('tcp_keepalives_count', '${KEEPALIVE.count}', false)`;

/** A pool with keepalive and error listeners; `extra` adds or overrides settings (timeouts, session options). */
export function createPool(connectionString: string, max = 10, extra: pg.PoolConfig = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE.idleSeconds * 1000,
    // The server's side: settable per session (no superuser needed), before the client is handed
    // out. A server that refuses (a pooler in between) still gets used, with its own settings.
    // eslint-disable-next-line @typescript-eslint/no-misused-promises -- pg-pool awaits onConnect (its types say void)
    onConnect: async (client) => {
      await client.query(SERVER_KEEPALIVE_SQL).catch(() => {});
    },
    ...extra,
  });
  // An idle client losing its connection (database restart) must not crash the process.
  pool.on('error', () => {});
  // Nor one checked out between two queries (an activity holding its client): without a listener
  // its 'error' event would crash the process; its next query fails instead, and is retried.
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

export async function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

/** Whether PostgreSQL answers (readiness). */
export async function ping(pool: pg.Pool): Promise<void> {
  await pool.query('SELECT 1');
}
