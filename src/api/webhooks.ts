import { isUtf8 } from 'node:buffer';
import type Router from '@koa/router';
import type { Context } from 'koa';
import type pg from 'pg';
import type { InboxRow } from '../db/inbox';
import { getIntegrationRow } from '../db/integrations';
import { findDescriptor } from '../integrations';
import { precedenceOf } from '../integrations/sql';
import type { IngestRecord, IntegrationDescriptor } from '../integrations/types';
import type { Logger } from '../log';
import { KeyringError, type Keyring } from '../secrets/keyring';
import { openOptional } from '../secrets/stored';
import { eventsAccepted, eventsIgnored, eventsReceived, eventsRejected } from '../metrics';
import { isWellFormedId } from '../services/ids';
import { dbError } from '../services/errors';
import { InboxUnavailableError, UnstorableEventError, type InboxWriter } from './inbox-writer';
import { readRawBody } from './raw-body';
import { unstorableReason } from './storable-json';
import { safeErrorText } from '../db/pg-error';

interface WebhookIntegration {
  id: string;
  service: string;
  secret: string | null;
  config: unknown;
  descriptor: IntegrationDescriptor;
  fetchedAt: number;
}

/** Secrets change (`integrations update`), so the lookup is cached only briefly. */
const CACHE_MS = 5_000;
/** Longer remote keys are no upstream's ids, and PostgreSQL's unique index could not hold them. */
const MAX_KEY_LENGTH = 500;
// Years 1 to 9999: what every upstream sends, and what PostgreSQL and JavaScript both hold.
const MIN_TS = Date.parse('0001-01-01T00:00:00Z');
const MAX_TS = Date.parse('9999-12-31T23:59:59.999Z');

function integrationLookup(pool: pg.Pool, keyring: Keyring | undefined) {
  const cache = new Map<string, WebhookIntegration>();
  return async (id: string): Promise<WebhookIntegration | undefined> => {
    const hit = cache.get(id);
    if (hit && Date.now() - hit.fetchedAt < CACHE_MS) return hit;
    const row = await getIntegrationRow(pool, id);
    const descriptor = row && findDescriptor(row.service);
    if (!row || !descriptor) {
      cache.delete(id);
      return undefined;
    }
    // A key that does not open the secret fails the lookup: the upstream is answered 503 and sends again.
    const secret = openOptional(keyring, 'integrations.webhook_secret', id, row.webhook_secret);
    const entry = { id, service: row.service, secret, config: row.config, descriptor, fetchedAt: Date.now() };
    cache.set(id, entry);
    return entry;
  };
}

function reject(ctx: Context, status: number, code: string, detail: string): void {
  eventsRejected.inc({ reason: code });
  ctx.status = status;
  ctx.body = { code, detail };
}

/** The frame's own checks of what a descriptor read out of an event; a reason when it cannot be stored. */
function checkRecord(d: IntegrationDescriptor, r: IngestRecord): string | undefined {
  if (typeof r.key !== 'string' || r.key === '') return 'the event has no remote key';
  if (r.key.length > MAX_KEY_LENGTH) return `the remote key is longer than ${MAX_KEY_LENGTH} characters`;
  if (!Number.isFinite(r.ts) || r.ts < MIN_TS || r.ts > MAX_TS) return 'the event\'s timestamp is outside the years 1 to 9999';
  if (!d.precedence.includes(r.change)) return `unknown kind of change "${r.change}"`;
  return undefined;
}

/**
 * POST /v1/webhooks/:integrationId: verify, then write into the inbox; 2xx once that INSERT has
 * committed. The ingest workflow is woken after the answer (see ingest-wakeups.ts).
 */
export function mountWebhooks(router: Router, deps: { pool: pg.Pool; keyring?: Keyring; inbox: InboxWriter; logger: Logger }): void {
  const lookup = integrationLookup(deps.pool, deps.keyring);
  router.post('/v1/webhooks/:integrationId', async (ctx) => {
    const id = ctx.params.integrationId!;
    if (!isWellFormedId(id)) return reject(ctx, 404, 'unknown_integration', 'no such integration');
    let integration: WebhookIntegration | undefined;
    try {
      integration = await lookup(id);
    } catch (err) {
      ctx.set('retry-after', '5');
      if (err instanceof KeyringError) {
        deps.logger.error({ integrationId: id, err: err.message }, 'the webhook secret cannot be opened with HOOKSYNC_ENCRYPTION_KEY');
        return reject(ctx, 503, 'unavailable', 'the integration\'s webhook secret cannot be read now; the event was not accepted, send it again');
      }
      return reject(ctx, 503, 'unavailable', dbError(err).message);
    }
    if (!integration) return reject(ctx, 404, 'unknown_integration', `no integration ${id}`);
    eventsReceived.inc({ service: integration.service });

    const raw = await readRawBody(ctx);
    const verified = await integration.descriptor.verify(raw, ctx.req.headers, integration.secret, integration.config);
    if (!verified.ok) {
      deps.logger.warn({ integrationId: id, reason: verified.reason }, 'webhook rejected');
      return reject(ctx, 401, verified.reason, verified.message);
    }
    // JSON is UTF-8 (RFC 8259); a decoder would silently replace what is not.
    if (!isUtf8(raw)) return reject(ctx, 400, 'invalid_event', 'the body is not valid UTF-8');
    const text = raw.toString('utf8');
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return reject(ctx, 400, 'malformed_json', 'the body is not valid JSON');
    }
    const meaning = integration.descriptor.interpret(body, { headers: ctx.req.headers, config: integration.config, rawBody: text });
    if (meaning.kind === 'invalid') return reject(ctx, 400, 'invalid_event', meaning.message);
    if (meaning.kind === 'ignored') {
      // Acknowledged, as upstreams expect for events an endpoint does not use.
      eventsIgnored.inc({ service: integration.service });
      ctx.status = 200;
      ctx.body = { received: true, ignored: `event type ${meaning.eventType} is not used by ${integration.service}` };
      return;
    }
    const record = meaning.record;
    // Refused now, with the reason, rather than answered 2xx and then unappliable.
    const why = checkRecord(integration.descriptor, record) ?? unstorableReason(text);
    if (why) return reject(ctx, 400, 'invalid_event', why);
    const row: Omit<InboxRow, 'shard'> = {
      key: record.key,
      ts: record.ts,
      precedence: precedenceOf(integration.descriptor, record.change),
      deleted: record.deleted,
      eventId: record.eventId,
      body: text,
    };
    try {
      await deps.inbox.submit(integration, row);
    } catch (err) {
      if (err instanceof UnstorableEventError) return reject(ctx, 400, 'invalid_event', err.message);
      deps.logger.error({ integrationId: id, err: safeErrorText(err) }, 'could not write the event into the inbox');
      ctx.set('retry-after', '5');
      const detail = err instanceof InboxUnavailableError ? err.message : 'the event could not be stored';
      return reject(ctx, 503, 'unavailable', `${detail}; the event was not accepted, send it again`);
    }
    eventsAccepted.inc({ service: integration.service });
    ctx.status = 200;
    ctx.body = { received: true };
  });
}
