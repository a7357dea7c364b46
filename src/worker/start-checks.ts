import type pg from 'pg';
import { checkCursors } from '../activities/repairs/cursor-check';
import type { Logger } from '../log';

/**
 * What a worker checks once as it starts, before the reconciler's first round: a database restored
 * into another cluster (cursors ahead of its transaction counter) is reported at once, in this
 * process's own log, since the reconciler's rounds, which report it too, may run on another worker.
 */
export async function checkAtStart(pool: pg.Pool, logger: Logger): Promise<void> {
  await checkCursors({ pool }).catch((err: Error) => logger.warn({ err: err.message }, "could not check the targets' cursors"));
}
