import type { SyncMode, TargetChange, TargetSettings } from './httpsync';

/**
 * The bounds of a target's settings, checked in one place: by the service layer (CLI and API)
 * before anything is stored, and again by the running workflow for whatever reaches it (any
 * Temporal client can send `configure`): page size 0 must not stop delivery.
 */
export const SETTINGS_BOUNDS = {
  periodSeconds: { min: 1, max: 86_400, what: 'period must be a whole number of seconds' },
  pageSize: { min: 1, max: 10_000, what: 'page size must be a whole number' },
  timeoutSeconds: { min: 1, max: 3_600, what: 'timeout must be a whole number of seconds' },
} as const;

const MODES: readonly SyncMode[] = ['interval', 'on_insert'];
const KNOWN = new Set(['periodSeconds', 'pageSize', 'timeoutSeconds', 'mode', 'paused', 'maskedUrl']);

/** A masked URL (`https://***:***@host/path`) or one without credentials: never a secret. */
const MASKED_URL = /^https?:\/\/(\*\*\*:\*\*\*@)?[^\s@]+$/;

/** What is wrong with a change, one sentence per field; empty when it may be applied. */
export function settingsProblems(change: unknown): string[] {
  if (typeof change !== 'object' || change === null || Array.isArray(change)) return ['settings must be an object'];
  const c = change as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of Object.keys(c)) if (!KNOWN.has(key)) problems.push(`unknown setting "${key}"`);
  for (const [key, b] of Object.entries(SETTINGS_BOUNDS)) {
    const v = c[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < b.min || v > b.max) {
      problems.push(`${b.what} from ${b.min} to ${b.max}, got ${JSON.stringify(v) ?? String(v)}`);
    }
  }
  if (c.mode !== undefined && !MODES.includes(c.mode as SyncMode)) problems.push('mode must be "interval" or "on_insert"');
  if (c.paused !== undefined && typeof c.paused !== 'boolean') problems.push('paused must be true or false');
  if (c.maskedUrl !== undefined && (typeof c.maskedUrl !== 'string' || !MASKED_URL.test(c.maskedUrl))) {
    problems.push('maskedUrl must be a URL whose credentials are masked (https://***:***@host/path)');
  }
  return problems;
}

/** The settings after a change that passed `settingsProblems`. */
export function applySettings(settings: TargetSettings, change: TargetChange): TargetSettings {
  const next = { ...settings };
  if (change.periodSeconds !== undefined) next.periodSeconds = change.periodSeconds;
  if (change.pageSize !== undefined) next.pageSize = change.pageSize;
  if (change.timeoutSeconds !== undefined) next.timeoutSeconds = change.timeoutSeconds;
  if (change.mode !== undefined) next.mode = change.mode;
  if (change.paused !== undefined) next.paused = change.paused;
  return next;
}
