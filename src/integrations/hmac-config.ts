import { z } from 'zod';
import { PRESET_NAMES, PRESETS, type PresetName, type PresetSettings } from './hmac-presets';
import { pointerProblem, pointerSetting } from './payload-settings';

/** hmac_v1's settings: a preset's, with what was given at creation over them, all checked before anything is created. */

export type HmacConfig = PresetSettings & { preset: PresetName | null };

const ALGORITHMS = ['sha256', 'sha1', 'sha512'] as const;
const ENCODINGS = ['hex', 'base64'] as const;
/** A day: more would make a captured request replayable for longer than any sender retries with one signature. */
export const MAX_TOLERANCE = 86_400;

// RFC 9110 token characters; Node hands headers over lower-cased, so names are kept lower-cased.
const headerName = (what: string) =>
  z
    .string()
    .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, `${what} must be an HTTP header name, e.g. X-Signature`)
    .transform((h) => h.toLowerCase());

/** `POINTER` (a boolean that is true for a deletion) or `POINTER=VALUE` (deleted when the value there is VALUE). */
export function parseDeleted(rule: string): { pointer: string; value?: string } {
  const at = rule.indexOf('=');
  return at < 0 ? { pointer: rule } : { pointer: rule.slice(0, at), value: rule.slice(at + 1) };
}

const deletedSetting = z.string().superRefine((rule, ctx) => {
  const { pointer, value } = parseDeleted(rule);
  const why = pointerProblem(pointer, 'deleted (--deleted)') ?? (value === '' ? 'deleted (--deleted): POINTER=VALUE needs a value after "=", e.g. /action=remove' : undefined);
  if (why) ctx.addIssue({ code: 'custom', message: why });
});

const PLACEHOLDER = /\{([^}]*)\}/g;

/** Why a --signed-payload template cannot be used, or undefined: `{body}` exactly once, `{timestamp}` at most once, nothing else in braces. */
function templateProblem(t: string): string | undefined {
  const names = [...t.matchAll(PLACEHOLDER)].map((m) => m[1]);
  const unknown = names.find((n) => n !== 'body' && n !== 'timestamp');
  if (unknown !== undefined) return `signed_payload (--signed-payload): unknown placeholder {${unknown}}; use {body} and {timestamp}`;
  if (names.filter((n) => n === 'body').length !== 1) return 'signed_payload (--signed-payload) must hold {body} exactly once, e.g. {body} or {timestamp}{body}';
  if (names.filter((n) => n === 'timestamp').length > 1) return 'signed_payload (--signed-payload) may hold {timestamp} only once';
  return undefined;
}

const given = z
  .object({
    preset: z.enum(PRESET_NAMES, { error: `preset (--preset) is one of ${PRESET_NAMES.join(', ')}` }).optional(),
    signature_header: headerName('signature_header (--signature-header)').optional(),
    algorithm: z.enum(ALGORITHMS, { error: `algorithm (--algorithm) is one of ${ALGORITHMS.join(', ')}` }).optional(),
    encoding: z.enum(ENCODINGS, { error: `encoding (--encoding) is one of ${ENCODINGS.join(', ')}` }).optional(),
    signature_prefix: z.string().max(100, 'signature_prefix (--signature-prefix) is at most 100 characters').optional(),
    signed_payload: z.string().superRefine((t, ctx) => {
      const why = templateProblem(t);
      if (why) ctx.addIssue({ code: 'custom', message: why });
    }).optional(),
    timestamp_header: headerName('timestamp_header (--timestamp-header)').optional(),
    tolerance: z
      .number({ error: 'tolerance (--tolerance) is a number of seconds' })
      .int('tolerance (--tolerance) is a whole number of seconds')
      .min(1, 'tolerance (--tolerance) is at least 1 second')
      .max(MAX_TOLERANCE, `tolerance (--tolerance) is at most ${MAX_TOLERANCE} seconds`)
      .optional(),
    remote_key: pointerSetting('remote_key (--remote-key)').optional(),
    timestamp: pointerSetting('timestamp (--timestamp)').optional(),
    deleted: deletedSetting.optional(),
  })
  .strict();

/** Settings that have no default: a preset or the option. */
const REQUIRED = [
  ['signature_header', '--signature-header'],
  ['remote_key', '--remote-key'],
  ['timestamp', '--timestamp'],
] as const;

const DEFAULTS = { algorithm: 'sha256', encoding: 'hex', signature_prefix: '', signed_payload: '{body}', deleted: null, deleted_when: null } as const;

/** The settings an instance keeps (and `integrations info --json` shows under `config`). */
export const hmacConfig = given.transform((g, ctx): HmacConfig => {
  const base = g.preset ? PRESETS[g.preset].settings : DEFAULTS;
  const merged: Record<string, unknown> = { timestamp_header: null, tolerance: null, ...base };
  for (const [k, v] of Object.entries(g)) if (v !== undefined && k !== 'preset') merged[k] = v;
  // A --deleted of one's own replaces the preset's way of telling a deletion.
  if (g.deleted !== undefined) merged.deleted_when = null;
  const problems: string[] = [];
  for (const [k, flag] of REQUIRED) {
    if (merged[k] === undefined) problems.push(`hmac_v1 needs ${k} (${flag}) or a preset (--preset ${PRESET_NAMES.join('|')})`);
  }
  const timestamped = String(merged.signed_payload).includes('{timestamp}');
  if (timestamped && merged.timestamp_header === null) problems.push('signed_payload (--signed-payload) holds {timestamp}: give the header it comes from (--timestamp-header)');
  if (!timestamped && merged.timestamp_header !== null) problems.push('timestamp_header (--timestamp-header) needs {timestamp} in signed_payload (--signed-payload), e.g. {timestamp}{body}');
  if (!timestamped && merged.tolerance !== null) problems.push('tolerance (--tolerance) applies to a timestamped signature: add {timestamp} to signed_payload (--signed-payload)');
  // A timestamp without a tolerance would not stop a replay: five minutes, as Standard Webhooks.
  if (timestamped && merged.tolerance === null) merged.tolerance = 300;
  for (const p of problems) ctx.addIssue({ code: 'custom', message: p });
  return { preset: g.preset ?? null, ...(merged as unknown as PresetSettings) };
});
