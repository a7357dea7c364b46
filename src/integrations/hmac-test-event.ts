import type { HmacConfig } from './hmac-config';
import { parseDeleted } from './hmac-config';
import { PRESETS, type PresetSample } from './hmac-presets';
import { hmacSignature } from './hmac-signature';
import { parsePointer } from './json-pointer';

/** Stands for an integer key in the JSON text, replaced by its digits (a JavaScript number would lose them). */
const KEY_DIGITS = '\u0000hooksync-key\u0000';

/** Sets `value` at `pointer`, creating the objects on the way. */
function setAt(doc: Record<string, unknown>, pointer: string, value: unknown): void {
  const tokens = parsePointer(pointer);
  let at = doc;
  for (const t of tokens.slice(0, -1)) {
    const next = at[t];
    at = (at[t] = next !== null && typeof next === 'object' && !Array.isArray(next) ? next : {}) as Record<string, unknown>;
  }
  at[tokens[tokens.length - 1]!] = value;
}

/**
 * A sample event of an hmac_v1 instance, shaped by its settings (and its preset's habits: Shopify's
 * numeric ids, Intercom's Unix seconds, Zendesk's ISO-8601 signature timestamp) and signed as the
 * sender signs: `send-test-event`. Its version time is `now`.
 */
export function hmacTestEvent(input: { key: string; deleted: boolean; now: Date; config: HmacConfig; secret: string }): { body: string; headers: Record<string, string> } {
  const { key, deleted, now, config: c, secret } = input;
  const sample: PresetSample = c.preset ? PRESETS[c.preset].sample : {};
  const seconds = Math.floor(now.getTime() / 1000);
  const time = (epoch: boolean) => (epoch ? seconds : now.toISOString());
  const presetTimestamp = c.preset !== null && c.timestamp === PRESETS[c.preset].settings.timestamp;
  const doc: Record<string, unknown> = {};
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const numericKey = sample.numericKey && /^-?[1-9]\d*$/.test(key);
  setAt(doc, c.remote_key, numericKey ? KEY_DIGITS : key);
  setAt(doc, c.timestamp, time(presetTimestamp && !!sample.epochSeconds));
  if (c.deleted !== null) {
    const { pointer, value } = parseDeleted(c.deleted);
    // POINTER=VALUE: a change carries some other value there.
    setAt(doc, pointer, value === undefined ? deleted : deleted ? value : `not ${value}`);
  } else if (c.deleted_when) {
    const w = c.deleted_when;
    const marker = deleted ? (sample.deletedValue ?? `hooksync.test${w.ends_with[0]}`) : (sample.changedValue ?? 'hooksync.test');
    if (w.header) headers[w.header] = marker;
    else if (w.pointer) setAt(doc, w.pointer, marker);
    if (deleted && w.version_header) headers[w.version_header] = now.toISOString();
    if (deleted && w.version_pointer) setAt(doc, w.version_pointer, time(!!sample.epochSeconds));
  }
  const body = JSON.stringify(doc).replace(JSON.stringify(KEY_DIGITS), key);
  let timestamp: string | undefined;
  if (c.signed_payload.includes('{timestamp}') && c.timestamp_header) {
    timestamp = sample.isoTimestampHeader ? now.toISOString().replace(/\.\d{3}Z$/, 'Z') : String(seconds);
    headers[c.timestamp_header] = timestamp;
  }
  headers[c.signature_header] = hmacSignature(c, secret, Buffer.from(body, 'utf8'), timestamp);
  return { body, headers };
}
