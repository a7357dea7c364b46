import { findDescriptor } from '../integrations';
import { getIntegrationRow } from '../db/integrations';
import { newestVersionAt } from '../db/newest-version';
import { openOptional } from '../secrets/stored';
import type { ServiceDeps } from './deps';
import { ServiceError } from './errors';
import { dbError } from './errors';

export interface TestEventView {
  id: string;
  service: string;
  /** The remote key the event carries (GitHub's issue ids are numbers: a key that is not one becomes one). */
  key: string;
  /** Where to POST it, relative to the API's base URL. */
  webhook_path: string;
  body: string;
  headers: Record<string, string>;
}

/**
 * A sample event of the integration's upstream, signed with its webhook secret, for the caller to
 * POST to its webhook endpoint (`integrations send-test-event`). Its version time is now, or just
 * after the newest version hooksync holds of the resource, so that every event changes the row.
 * Built here because only the service layer can open the sealed secret; the CLI sends it.
 */
export async function buildTestEvent(deps: ServiceDeps, id: string, input: { key?: string; deleted?: boolean }): Promise<TestEventView> {
  const row = await getIntegrationRow(deps.pool, id).catch((err) => {
    throw dbError(err);
  });
  if (!row) throw new ServiceError('not_found', `no integration ${id}`);
  const descriptor = findDescriptor(row.service);
  if (!descriptor) throw new ServiceError('invalid', `integration ${id} has unknown service ${row.service}`);
  const secret = openOptional(deps.keyring, 'integrations.webhook_secret', id, row.webhook_secret);
  if (secret === null) {
    throw new ServiceError('conflict', `integration ${id} has no webhook secret yet: set it with \`hooksync integrations update ${id} --webhook-secret …\``);
  }
  const key = input.key ?? `test_${descriptor.resource}`;
  const build = (now: Date) => {
    try {
      const event = descriptor.testEvent({ key, deleted: input.deleted ?? false, now, config: row.config, secret });
      // Read back as the webhook endpoint will read it: the key as the event carries it (GitHub's issue ids are numbers).
      const read = descriptor.interpret(JSON.parse(event.body), { headers: event.headers, config: row.config });
      if (read.kind !== 'record') throw new Error(`its test event does not read as a change (${read.kind})`);
      return { event, record: read.record };
    } catch (err) {
      throw new ServiceError('invalid', `${row.service}: ${(err as Error).message}`);
    }
  };
  let { event, record } = build(new Date());
  const newest = await newestVersionAt(deps.pool, { id, table: row.table_name, ...descriptor }, record.key).catch((err) => {
    throw dbError(err);
  });
  // Upstreams' times have whole seconds at best (Stripe's, GitHub's): a second later is newer for all.
  if (newest !== undefined && newest >= record.ts) ({ event, record } = build(new Date(Math.floor(newest / 1000) * 1000 + 1000)));
  return { id, service: row.service, key: record.key, webhook_path: `/v1/webhooks/${id}`, ...event };
}
