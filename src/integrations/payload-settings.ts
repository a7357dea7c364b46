import { z } from 'zod';
import { JsonPointerError, parsePointer } from './json-pointer';

/**
 * Settings shared by the integrations whose payloads differ between senders (standard_webhooks_v1,
 * hmac_v1): JSON pointers given at creation, and the version time they point at.
 */

/** An RFC 6901 pointer into the payload (not the whole payload); `what` names the setting in messages. */
export const pointerSetting = (what: string) =>
  z
    .string({ error: `${what} is required: an RFC 6901 JSON pointer such as /data/id` })
    .superRefine((p, ctx) => {
      const why = pointerProblem(p, what);
      if (why) ctx.addIssue({ code: 'custom', message: why });
    });

/** Why `p` cannot be a pointer into the payload, or undefined. */
export function pointerProblem(p: string, what: string): string | undefined {
  try {
    if (parsePointer(p).length === 0) return `${what} must point into the payload (e.g. /data/id), not be the whole payload`;
    return undefined;
  } catch (err) {
    if (!(err instanceof JsonPointerError)) throw err;
    return `${what}: ${err.message}`;
  }
}

// The shape PostgreSQL's hooksync_iso_timestamptz reads too (002_ingest_inbox.sql): a date, a time and a zone.
const ISO_8601 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}(:?\d{2})?)$/;

/** An ISO-8601 string with a zone, or a Unix time in seconds: ms since 1970, or undefined. */
export function versionTime(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 && v < 1e11 ? Math.round(v * 1000) : undefined;
  if (typeof v === 'string' && ISO_8601.test(v)) {
    const ms = Date.parse(v.replace(' ', 'T'));
    return Number.isFinite(ms) ? ms : undefined;
  }
  return undefined;
}
