import { publicBaseUrl } from '../config';
import { deadLetterStats, inboxDepth, requeueDeadLetters, requeuedOutcome } from '../db/inbox';
import { withTransaction } from '../db/pool';
import { findDescriptor, serviceNames } from '../integrations';
import { sealSecret } from '../secrets/stored';
import { createTableSql } from '../integrations/sql';
import { ingestSettings, wakeIngest } from '../temporal/ingest-wake';
import type { ServiceDeps } from './deps';
import { ServiceError, unavailable } from './errors';
import { newId, tableSuffix } from './ids';

export interface IntegrationView {
  id: string;
  service: string;
  table: string;
  webhook_url: string;
  has_webhook_secret: boolean;
  /** Events per second each API process accepts for this integration; null: no limit. */
  rate_limit_per_second: number | null;
  created_at: string;
}

interface IntegrationRow {
  id: string;
  service: string;
  table_name: string;
  webhook_secret: string | null;
  rate_limit_per_second: number | null;
  created_at: Date;
}

/** Bounds of a rate limit, in events per second (shared by the CLI and the API). */
export const RATE_LIMIT_MAX = 1_000_000;

const view = (deps: ServiceDeps, r: IntegrationRow): IntegrationView => ({
  id: r.id,
  service: r.service,
  table: r.table_name,
  webhook_url: `${publicBaseUrl(deps.config)}/v1/webhooks/${r.id}`,
  has_webhook_secret: r.webhook_secret !== null,
  rate_limit_per_second: r.rate_limit_per_second,
  created_at: r.created_at.toISOString(),
});

function checkSecret(service: string, secret: string | undefined): string | null {
  if (secret === undefined) return null;
  const d = findDescriptor(service)!;
  const prefix = d.secretExample.replace('…', '');
  if (!secret.startsWith(prefix) || secret.length <= prefix.length || /\s/.test(secret)) {
    throw new ServiceError('invalid', `a ${d.upstream} webhook secret looks like ${d.secretExample}`);
  }
  return secret;
}

export async function createIntegration(deps: ServiceDeps, input: { service: string; webhookSecret?: string }): Promise<IntegrationView> {
  const descriptor = findDescriptor(input.service);
  if (!descriptor) {
    throw new ServiceError('invalid', `unknown integration "${input.service}"; available: ${serviceNames().join(', ')}`);
  }
  const secret = checkSecret(input.service, input.webhookSecret);
  for (let attempt = 0; ; attempt++) {
    const id = newId('svi');
    const table = `${descriptor.service}_${tableSuffix()}`;
    try {
      const row = await withTransaction(deps.pool, async (db) => {
        const { rows } = await db.query<IntegrationRow>(
          'INSERT INTO integrations (id, service, table_name, webhook_secret) VALUES ($1, $2, $3, $4) RETURNING *',
          [id, descriptor.service, table, secret === null ? null : sealSecret(deps.keyring, 'integrations.webhook_secret', id, secret)],
        );
        for (const stmt of createTableSql(descriptor, table)) await db.query(stmt);
        return rows[0]!;
      });
      return view(deps, row);
    } catch (err) {
      // 65,536 table names per service: on a collision, draw again.
      if ((err as { code?: string }).code === '23505' && attempt < 20) continue;
      throw dbError(err);
    }
  }
}

export interface IntegrationPatch {
  webhookSecret?: string;
  /** Events per second; null (or 0) removes the limit. */
  rateLimitPerSecond?: number | null;
}

export async function updateIntegration(deps: ServiceDeps, id: string, input: IntegrationPatch): Promise<IntegrationView> {
  if (input.webhookSecret === undefined && input.rateLimitPerSecond === undefined) {
    throw new ServiceError('invalid', 'nothing to change: give a webhook secret or a rate limit');
  }
  const limit = input.rateLimitPerSecond === 0 ? null : input.rateLimitPerSecond;
  if (limit !== undefined && limit !== null && !(Number.isFinite(limit) && limit > 0 && limit <= RATE_LIMIT_MAX)) {
    throw new ServiceError('invalid', `a rate limit is a number of events per second above 0 and at most ${RATE_LIMIT_MAX} (0 or off removes it)`);
  }
  const current = await getIntegration(deps, id);
  const secret = input.webhookSecret === undefined ? undefined : checkSecret(current.service, input.webhookSecret);
  const { rows } = await deps.pool
    .query<IntegrationRow>(
      `UPDATE integrations
          SET webhook_secret = CASE WHEN $2 THEN $3 ELSE webhook_secret END,
              rate_limit_per_second = CASE WHEN $4 THEN $5::double precision ELSE rate_limit_per_second END
        WHERE id = $1 RETURNING *`,
      [id, secret !== undefined, secret == null ? null : sealSecret(deps.keyring, 'integrations.webhook_secret', id, secret), limit !== undefined, limit ?? null],
    )
    .catch((err) => {
      throw dbError(err);
    });
  if (!rows[0]) throw new ServiceError('not_found', `no integration ${id}`);
  return view(deps, rows[0]);
}

export async function getIntegration(deps: ServiceDeps, id: string): Promise<IntegrationView> {
  const { rows } = await deps.pool.query<IntegrationRow>('SELECT * FROM integrations WHERE id = $1', [id]).catch((err) => {
    throw dbError(err);
  });
  if (!rows[0]) throw new ServiceError('not_found', `no integration ${id}`);
  return view(deps, rows[0]);
}

export async function listIntegrations(deps: ServiceDeps): Promise<IntegrationView[]> {
  const { rows } = await deps.pool.query<IntegrationRow>('SELECT * FROM integrations ORDER BY created_at').catch((err) => {
    throw dbError(err);
  });
  return rows.map((r) => view(deps, r));
}

/** `integrations info`: the integration, its inbox (events waiting, age of the oldest) and its dead letters. */
export interface IntegrationInfo extends IntegrationView {
  inbox_waiting: number;
  /** Seconds; null when nothing waits. */
  inbox_oldest_age_seconds: number | null;
  dead_letters: number;
  last_dead_letter_error: string | null;
  last_dead_letter_at: string | null;
}

export async function integrationInfo(deps: ServiceDeps, id: string): Promise<IntegrationInfo> {
  const integration = await getIntegration(deps, id);
  const [depth, dead] = await Promise.all([inboxDepth(deps.pool, id), deadLetterStats(deps.pool, id)]).catch((err) => {
    throw dbError(err);
  });
  return {
    ...integration,
    inbox_waiting: depth.waiting,
    inbox_oldest_age_seconds: depth.oldestAgeSeconds === null ? null : Math.round(depth.oldestAgeSeconds * 1000) / 1000,
    dead_letters: dead.count,
    last_dead_letter_error: dead.lastError,
    last_dead_letter_at: dead.lastFailedAt?.toISOString() ?? null,
  };
}

export interface RetryFailedResult {
  id: string;
  /** Dead letters put back into the inbox. */
  requeued: number;
  /** Of those, applied (or discarded as older) by the time the command returned. */
  done: number;
  /** Refused again, back in the dead letters. */
  failed_again: number;
  /** Still waiting in the inbox (no worker running, or the wait ended first). */
  waiting: number;
  /** Whether the ingest workflows could be woken; if not, the worker's sweep picks the events up. */
  woken: boolean;
}

/**
 * Puts an integration's dead letters back into the inbox and wakes its ingest workflows, which
 * apply them as any event (newest version wins; what is refused again goes back, with its error).
 * Waits up to `waitMs` for the outcome.
 */
export async function retryFailed(deps: ServiceDeps, id: string, opts: { waitMs?: number } = {}): Promise<RetryFailedResult> {
  const integration = await getIntegration(deps, id);
  const { at, shards } = await requeueDeadLetters(deps.pool, id).catch((err) => {
    throw dbError(err);
  });
  const ids = shards.flatMap((s) => s.ids);
  const result: RetryFailedResult = { id, requeued: ids.length, done: 0, failed_again: 0, waiting: ids.length, woken: true };
  if (ids.length === 0) return result;
  const settings = ingestSettings(deps.config);
  const wakes = await Promise.allSettled(
    shards.map((s) => wakeIngest(deps.temporal.client, settings, { integrationId: id, service: integration.service, shard: s.shard }, s.ids[s.ids.length - 1])),
  );
  result.woken = wakes.every((w) => w.status === 'fulfilled');
  const until = Date.now() + (opts.waitMs ?? 30_000);
  for (;;) {
    const o = await requeuedOutcome(deps.pool, id, ids, at);
    result.waiting = o.waiting;
    result.failed_again = o.failedAgain;
    result.done = Math.max(0, ids.length - o.waiting - o.failedAgain);
    if (o.waiting === 0 || Date.now() >= until || !result.woken) return result;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export function dbError(err: unknown): Error {
  if (err instanceof ServiceError) return err;
  const code = (err as { code?: string }).code;
  // Connection-level failures have no SQLSTATE (ECONNREFUSED…) or class 08 / 57P.
  if (!code || /^(08|57P)/.test(code) || /^E[A-Z]+$/.test(code)) return unavailable('PostgreSQL', err);
  return err as Error;
}
