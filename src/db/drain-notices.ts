import pg from 'pg';
import type { Logger } from 'pino';
import { KEEPALIVE } from './pool';

type Db = pg.Pool | pg.PoolClient;

/**
 * Rows for a target whose drain runs in another worker process (its lock is held, the drain is not
 * here): told through PostgreSQL's LISTEN/NOTIFY, so the drain reads them within its slice instead
 * of after it ends. A hint only: the worker that applied the rows goes on looking at the target
 * until its cursor has passed them or its lock is free (target-wakeups.ts).
 */
const CHANNEL = 'hooksync_drain_rows';

/** Tells every worker's drains that rows for these targets are readable. */
export async function noticeDrains(db: Db, targetIds: string[]): Promise<void> {
  await db.query({
    name: 'hooksync_notice_drains',
    text: `SELECT pg_notify('${CHANNEL}', id) FROM unnest($1::text[]) AS id`,
    values: [targetIds],
  });
}

const RECONNECT_MS = { first: 1_000, max: 30_000 } as const;

/**
 * Listens on one connection of its own for the rows other workers announce; connects again after
 * a lost connection (1 s, doubling up to 30 s). What is announced while it is away is not lost:
 * the announcing worker wakes the target through Temporal once the drain has ended.
 */
export function listenForDrainNotices(databaseUrl: string, onTarget: (targetId: string) => void, log: Pick<Logger, 'warn'>): { close(): Promise<void> } {
  let client: pg.Client | undefined;
  let closed = false;
  let retryMs: number = RECONNECT_MS.first;
  let timer: NodeJS.Timeout | undefined;

  const again = () => {
    if (closed || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      void connect();
    }, retryMs);
    timer.unref();
    retryMs = Math.min(retryMs * 2, RECONNECT_MS.max);
  };

  const connect = async () => {
    const c = new pg.Client({ connectionString: databaseUrl, keepAlive: true, keepAliveInitialDelayMillis: KEEPALIVE.idleSeconds * 1000 });
    client = c;
    let lost = false;
    const onLost = (err?: Error) => {
      if (lost) return;
      lost = true;
      if (client === c) client = undefined;
      c.end().catch(() => {});
      if (!closed) log.warn({ error: err?.message ?? 'connection ended' }, 'lost the connection that hears of rows for drains in other workers; connecting again');
      again();
    };
    c.on('error', onLost);
    c.on('end', () => onLost());
    c.on('notification', (n) => {
      if (n.channel === CHANNEL && n.payload) onTarget(n.payload);
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${CHANNEL}`);
      retryMs = RECONNECT_MS.first;
      if (closed) await c.end();
    } catch (err) {
      onLost(err as Error);
    }
  };

  void connect();
  return {
    async close() {
      closed = true;
      clearTimeout(timer);
      await client?.end().catch(() => {});
    },
  };
}
