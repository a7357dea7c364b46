import { publicBaseUrl } from '../config';
import { withTransaction } from '../db/pool';
import { findDescriptor, serviceNames } from '../integrations';
import { createTableSql } from '../integrations/sql';
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
          [id, descriptor.service, table, secret],
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
      [id, secret !== undefined, secret ?? null, limit !== undefined, limit ?? null],
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

export function dbError(err: unknown): Error {
  if (err instanceof ServiceError) return err;
  const code = (err as { code?: string }).code;
  // Connection-level failures have no SQLSTATE (ECONNREFUSED…) or class 08 / 57P.
  if (!code || /^(08|57P)/.test(code) || /^E[A-Z]+$/.test(code)) return unavailable('PostgreSQL', err);
  return err as Error;
}
