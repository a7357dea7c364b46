import type Router from '@koa/router';
import type { Context } from 'koa';
import type pg from 'pg';
import { findDescriptor } from '../integrations';
import type { IntegrationDescriptor } from '../integrations/types';
import type { Logger } from '../log';
import { eventsAccepted, eventsIgnored, eventsReceived, eventsRejected } from '../metrics';
import { dbError } from '../services/integrations';
import type { IngestBatcher } from './ingest-batcher';
import { readRawBody } from './raw-body';

interface WebhookIntegration {
  id: string;
  service: string;
  secret: string | null;
  descriptor: IntegrationDescriptor;
  fetchedAt: number;
}

/** Secrets change (`integrations update`), so the lookup is cached only briefly. */
const CACHE_MS = 5_000;

function integrationLookup(pool: pg.Pool) {
  const cache = new Map<string, WebhookIntegration>();
  return async (id: string): Promise<WebhookIntegration | undefined> => {
    const hit = cache.get(id);
    if (hit && Date.now() - hit.fetchedAt < CACHE_MS) return hit;
    const { rows } = await pool.query<{ service: string; webhook_secret: string | null }>(
      'SELECT service, webhook_secret FROM integrations WHERE id = $1',
      [id],
    );
    const row = rows[0];
    const descriptor = row && findDescriptor(row.service);
    if (!row || !descriptor) {
      cache.delete(id);
      return undefined;
    }
    const entry = { id, service: row.service, secret: row.webhook_secret, descriptor, fetchedAt: Date.now() };
    cache.set(id, entry);
    return entry;
  };
}

function reject(ctx: Context, status: number, code: string, detail: string): void {
  eventsRejected.inc({ reason: code });
  ctx.status = status;
  ctx.body = { code, detail };
}

/** POST /v1/webhooks/:integrationId: verify, then hand to Temporal; 2xx only once durable there. */
export function mountWebhooks(router: Router, deps: { pool: pg.Pool; batcher: IngestBatcher; logger: Logger }): void {
  const lookup = integrationLookup(deps.pool);
  router.post('/v1/webhooks/:integrationId', async (ctx) => {
    const id = ctx.params.integrationId!;
    let integration: WebhookIntegration | undefined;
    try {
      integration = await lookup(id);
    } catch (err) {
      const e = dbError(err);
      return reject(ctx, 503, 'unavailable', e.message);
    }
    if (!integration) return reject(ctx, 404, 'unknown_integration', `no integration ${id}`);
    eventsReceived.inc({ service: integration.service });

    const raw = await readRawBody(ctx);
    const verified = integration.descriptor.verify(raw, ctx.req.headers, integration.secret);
    if (!verified.ok) {
      deps.logger.warn({ integrationId: id, reason: verified.reason }, 'webhook rejected');
      return reject(ctx, 401, verified.reason, verified.message);
    }
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return reject(ctx, 400, 'malformed_json', 'the body is not valid JSON');
    }
    const meaning = integration.descriptor.interpret(body);
    if (meaning.kind === 'invalid') return reject(ctx, 400, 'invalid_event', meaning.message);
    if (meaning.kind === 'ignored') {
      // Acknowledged, as upstreams expect for events an endpoint does not use.
      eventsIgnored.inc({ service: integration.service });
      ctx.status = 200;
      ctx.body = { received: true, ignored: `event type ${meaning.eventType} is not used by ${integration.service}` };
      return;
    }
    try {
      await deps.batcher.submit(integration, meaning.record, raw.length);
    } catch (err) {
      deps.logger.error({ integrationId: id, err: (err as Error).message }, 'could not hand the event to Temporal');
      ctx.set('retry-after', '5');
      return reject(ctx, 503, 'unavailable', 'Temporal is unreachable; the event was not accepted, send it again');
    }
    eventsAccepted.inc({ service: integration.service });
    ctx.status = 200;
    ctx.body = { received: true };
  });
}
