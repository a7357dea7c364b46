import { publicBaseUrl } from '../config';
import { deadLetterStats, inboxDepth } from '../db/inbox';
import {
  getIntegrationRow,
  insertIntegration,
  integrationEvents,
  listIntegrationRows,
  tableRowCounts,
  updateIntegrationRow,
  type IntegrationEvents,
  type IntegrationRow,
} from '../db/integrations';
import { withTransaction } from '../db/pool';
import { findDescriptor, serviceNames } from '../integrations';
import { sealSecret } from '../secrets/stored';
import type { IntegrationDescriptor } from '../integrations/types';
import type { ServiceDeps } from './deps';
import { dbError, ServiceError } from './errors';
import { newId, tableSuffix } from './ids';

export interface IntegrationView {
  id: string;
  service: string;
  table: string;
  webhook_url: string;
  has_webhook_secret: boolean;
  /** Events per second each API process accepts for this integration; null: no limit. */
  rate_limit_per_second: number | null;
  /** The instance's settings given at creation (e.g. standard_webhooks_v1's JSON pointers); {} for most. */
  config: Record<string, unknown>;
  created_at: string;
  /** Events accepted (applied, discarded as older or redelivered, dead-lettered, or still in the inbox). */
  events_received: number;
  /** Of those, the versions that changed a row. */
  events_applied: number;
  /** When the newest accepted event arrived; null before the first. */
  last_event_at: string | null;
}

/** Bounds of a rate limit, in events per second (shared by the CLI and the API). */
export const RATE_LIMIT_MAX = 1_000_000;
/** `retry-failed` waits at most this long for the outcome (an HTTP request stays open meanwhile). */
export const RETRY_WAIT_MAX_SECONDS = 240;

const NO_EVENTS: IntegrationEvents = { received: 0, applied: 0, lastEventAt: null };

const view = (deps: ServiceDeps, r: IntegrationRow, events: IntegrationEvents = NO_EVENTS): IntegrationView => ({
  id: r.id,
  service: r.service,
  table: r.table_name,
  webhook_url: `${publicBaseUrl(deps.config)}/v1/webhooks/${r.id}`,
  has_webhook_secret: r.webhook_secret !== null,
  rate_limit_per_second: r.rate_limit_per_second,
  config: r.config,
  created_at: r.created_at.toISOString(),
  events_received: events.received,
  events_applied: events.applied,
  last_event_at: events.lastEventAt?.toISOString() ?? null,
});

async function eventsOf(deps: ServiceDeps, ids?: string[]): Promise<Map<string, IntegrationEvents>> {
  return integrationEvents(deps.pool, ids).catch((err) => {
    throw dbError(err);
  });
}

function checkSecret(service: string, secret: string | undefined): string | null {
  if (secret === undefined) return null;
  const d = findDescriptor(service)!;
  if (d.checkSecret) {
    const why = d.checkSecret(secret);
    if (why) throw new ServiceError('invalid', why);
    return secret;
  }
  const prefix = d.secretExample.replace('…', '');
  // Upstreams' secrets are printable ASCII; anything else (a control character, a lone surrogate) is a paste gone wrong.
  if (!secret.startsWith(prefix) || secret.length <= prefix.length || !/^[\x21-\x7e]+$/.test(secret)) {
    throw new ServiceError('invalid', `a ${d.upstream} webhook secret looks like ${d.secretExample}`);
  }
  return secret;
}

/**
 * The instance's settings, as its descriptor's `config` schema reads them (e.g. JSON pointers):
 * checked before anything is created. Options a descriptor does not take are refused, not ignored.
 */
function checkConfig(d: IntegrationDescriptor, options: Record<string, unknown> = {}): Record<string, unknown> {
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  if (!d.config) {
    const names = Object.keys(given);
    if (names.length > 0) throw new ServiceError('invalid', `${d.service} takes no ${names.join(', ')}`);
    return {};
  }
  const parsed = d.config.safeParse(given);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => (i.code === 'unrecognized_keys' ? `${d.service} takes no ${i.keys.join(', ')}` : i.message));
    throw new ServiceError('invalid', problems.join('; '));
  }
  return parsed.data as Record<string, unknown>;
}

export interface IntegrationInput {
  service: string;
  webhookSecret?: string;
  /** Per-instance settings by their API names (standard_webhooks_v1: remote_key, timestamp, deleted). */
  options?: Record<string, unknown>;
}

export async function createIntegration(deps: ServiceDeps, input: IntegrationInput): Promise<IntegrationView> {
  const descriptor = findDescriptor(input.service);
  if (!descriptor) {
    throw new ServiceError('invalid', `unknown integration "${input.service}"; available: ${serviceNames().join(', ')}`);
  }
  const secret = checkSecret(input.service, input.webhookSecret);
  const config = checkConfig(descriptor, input.options);
  for (let attempt = 0; ; attempt++) {
    const id = newId('svi');
    const table = `${descriptor.service}_${tableSuffix()}`;
    try {
      const row = await withTransaction(deps.pool, (db) =>
        insertIntegration(
          db,
          { id, service: descriptor.service, table, webhookSecret: secret === null ? null : sealSecret(deps.keyring, 'integrations.webhook_secret', id, secret), config },
          descriptor,
        ),
      );
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
  const sealed = secret == null ? secret : sealSecret(deps.keyring, 'integrations.webhook_secret', id, secret);
  const row = await updateIntegrationRow(deps.pool, id, { webhookSecret: sealed, rateLimitPerSecond: limit }).catch((err) => {
    throw dbError(err);
  });
  if (!row) throw new ServiceError('not_found', `no integration ${id}`);
  return view(deps, row, (await eventsOf(deps, [id])).get(id));
}

export async function getIntegration(deps: ServiceDeps, id: string): Promise<IntegrationView> {
  const row = await getIntegrationRow(deps.pool, id).catch((err) => {
    throw dbError(err);
  });
  if (!row) throw new ServiceError('not_found', `no integration ${id}`);
  return view(deps, row, (await eventsOf(deps, [id])).get(id));
}

export async function listIntegrations(deps: ServiceDeps): Promise<IntegrationView[]> {
  const rows = await listIntegrationRows(deps.pool).catch((err) => {
    throw dbError(err);
  });
  const events = await eventsOf(deps);
  return rows.map((r) => view(deps, r, events.get(r.id)));
}

/** `integrations info`: the integration, its inbox (events waiting, age of the oldest) and its dead letters. */
export interface IntegrationInfo extends IntegrationView {
  /** Rows in its table, and how many of them are marked deleted upstream; null when they could not be counted at once (the table locked, or very large). */
  rows: number | null;
  rows_deleted: number | null;
  inbox_waiting: number;
  /** Seconds; null when nothing waits. */
  inbox_oldest_age_seconds: number | null;
  dead_letters: number;
  last_dead_letter_error: string | null;
  last_dead_letter_at: string | null;
}

export async function integrationInfo(deps: ServiceDeps, id: string): Promise<IntegrationInfo> {
  const integration = await getIntegration(deps, id);
  const [depth, dead, counts] = await Promise.all([inboxDepth(deps.pool, id), deadLetterStats(deps.pool, id), tableRowCounts(deps.pool, integration.table)]).catch(
    (err) => {
      throw dbError(err);
    },
  );
  return {
    ...integration,
    rows: counts?.rows ?? null,
    rows_deleted: counts?.deleted ?? null,
    inbox_waiting: depth.waiting,
    inbox_oldest_age_seconds: depth.oldestAgeSeconds === null ? null : Math.round(depth.oldestAgeSeconds * 1000) / 1000,
    dead_letters: dead.count,
    last_dead_letter_error: dead.lastError,
    last_dead_letter_at: dead.lastFailedAt?.toISOString() ?? null,
  };
}
