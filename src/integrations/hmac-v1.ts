import type { IncomingHttpHeaders } from 'node:http';
import { exactKey } from './exact-key';
import { hmacConfig, parseDeleted, type HmacConfig } from './hmac-config';
import { PRESET_NAMES } from './hmac-presets';
import { verifyHmac } from './hmac-signature';
import { hmacTestEvent } from './hmac-test-event';
import { resolvePointer } from './json-pointer';
import { versionTime } from './payload-settings';
import type { IntegrationDescriptor, Interpretation } from './types';

/** Weakest first: of two versions with the same time, a deletion wins. */
const CHANGES = ['changed', 'deleted'] as const;

const header = (headers: IncomingHttpHeaders, name: string) => {
  const v = headers[name];
  return typeof v === 'string' ? v : undefined;
};

/** A header's time: ISO-8601 (Shopify's X-Shopify-Triggered-At) or Unix seconds. */
const headerTime = (v: string | undefined) => (v === undefined ? undefined : versionTime(/^\d+$/.test(v) ? Number(v) : v));

/** What `deleted` says (a boolean pointer, or POINTER=VALUE), or else the preset's deletion rule. */
function deletion(body: unknown, headers: IncomingHttpHeaders, c: HmacConfig): boolean {
  if (c.deleted !== null) {
    const { pointer, value } = parseDeleted(c.deleted);
    const v = resolvePointer(body, pointer);
    if (value === undefined) return v === true;
    return (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') && String(v) === value;
  }
  const w = c.deleted_when;
  if (!w) return false;
  const v = w.header ? header(headers, w.header) : w.pointer ? resolvePointer(body, w.pointer) : undefined;
  return typeof v === 'string' && w.ends_with.some((s) => v.endsWith(s));
}

/** The version time: a deletion's from where the preset's rule says (its payload may have no timestamp), else `timestamp`. */
function versionOf(body: unknown, headers: IncomingHttpHeaders, c: HmacConfig, deleted: boolean): number | undefined {
  const w = deleted && c.deleted === null ? c.deleted_when : null;
  const fromRule = w?.version_header ? headerTime(header(headers, w.version_header)) : w?.version_pointer ? versionTime(resolvePointer(body, w.version_pointer)) : undefined;
  return fromRule ?? versionTime(resolvePointer(body, c.timestamp));
}

/** A name for an event this integration does not use, for the answer and the metrics. */
function eventType(body: unknown, headers: IncomingHttpHeaders, c: HmacConfig): string {
  for (const p of ['/type', '/topic', '/action']) {
    const v = resolvePointer(body, p);
    if (typeof v === 'string' && v !== '') return v;
  }
  const h = c.deleted_when?.header && header(headers, c.deleted_when.header);
  return h || `without ${c.remote_key}`;
}

/**
 * Any sender that signs the raw body with an HMAC in a header of its own (Shopify, Linear,
 * Intercom, Zendesk as presets; any other with the options). The whole payload is the row's
 * `data`; each instance says, as JSON pointers, where the key, the version time and the deletion
 * are. A payload without the key (another event type sent to the same endpoint) is acknowledged
 * and ignored; one with a key but no version time is refused. Versions carry their own time, so a
 * redelivery changes nothing without de-duplication by event id.
 */
export const hmacV1: IntegrationDescriptor<HmacConfig> = {
  service: 'hmac_v1',
  upstream: 'HMAC sender',
  resource: 'resource',
  remoteKeyColumn: 'remote_id',
  timestampColumn: 'updated_at',
  resourcePointer: '',
  columns: [],
  precedence: CHANGES,
  config: hmacConfig,
  secretExample: 'the signing secret the sender shows',
  checkSecret: (secret) =>
    /^[\x21-\x7e]+$/.test(secret) ? undefined : 'a signing secret is printable ASCII without spaces (as the sender shows it)',
  verify: (rawBody, headers, secret, config) => verifyHmac(config, rawBody, headers, secret),
  interpret(body, { headers, config, rawBody }): Interpretation {
    const key = exactKey(body, rawBody, config.remote_key);
    if (key === undefined) return { kind: 'ignored', eventType: eventType(body, headers, config) };
    if (key === null || key === '') return { kind: 'invalid', message: `no string or integer at ${config.remote_key} (the remote key)` };
    const deleted = deletion(body, headers, config);
    const ts = versionOf(body, headers, config, deleted);
    if (ts === undefined) return { kind: 'invalid', message: `no ISO-8601 time or Unix time in seconds at ${config.timestamp} (the version timestamp)` };
    return { kind: 'record', record: { key, ts, deleted, change: deleted ? 'deleted' : 'changed' } };
  },
  testEvent: hmacTestEvent,
  setupSteps: (webhookUrl, id) => [
    `Register ${webhookUrl} with the sender as a webhook endpoint sending JSON, for the events of one kind of resource; it signs with the secret given here (or set it with: hooksync integrations update ${id} --webhook-secret -).`,
    `Presets (${PRESET_NAMES.join(', ')}) and every setting are shown by: hooksync integrations info ${id} --json`,
    `Then send data on with: hooksync httpsync create ${id}`,
  ],
};
