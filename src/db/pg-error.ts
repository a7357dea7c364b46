/**
 * PostgreSQL's errors quote the data: `invalid input syntax for type bigint: "…"` in the message,
 * `Failing row contains (…)` and `Key (email)=(…)` in the detail, values in a hint or in what a
 * user's trigger raises. Logs and Temporal (failures, details, results) hold no customer data, so
 * what crosses into them is only the SQLSTATE, the constraint or column it names and a fixed text.
 * The whole error may stay in PostgreSQL (a dead letter keeps it beside its event).
 */

interface PgErrorFields {
  code: string;
  severity?: string;
  constraint?: string;
  column?: string;
}

/** An error that PostgreSQL sent (a SQLSTATE and a severity), as node-postgres throws it. */
export function isPgError(err: unknown): err is Error & PgErrorFields {
  const e = err as Partial<PgErrorFields> | null | undefined;
  return typeof e?.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) && typeof e.severity === 'string';
}

/** Fixed texts of the SQLSTATEs hooksync meets; others are named by their class. */
const CONDITIONS: Record<string, string> = {
  '22001': 'value too long',
  '22003': 'numeric value out of range',
  '22007': 'invalid datetime format',
  '22008': 'datetime field overflow',
  '22021': 'character not in repertoire',
  '22P02': 'invalid text representation',
  '22P05': 'untranslatable character',
  '23502': 'not-null violation',
  '23503': 'foreign key violation',
  '23505': 'unique violation',
  '23514': 'check violation',
  '23P01': 'exclusion violation',
  '40001': 'serialization failure',
  '40P01': 'deadlock detected',
  '42P01': 'undefined table',
  '42703': 'undefined column',
  '55P03': 'lock not available',
  '57014': 'query canceled (statement or lock timeout)',
  '57P01': 'the server is shutting down',
  P0001: 'raised by a function or trigger',
};
const CLASSES: Record<string, string> = {
  '08': 'connection exception',
  '22': 'data exception',
  '23': 'integrity constraint violation',
  '25': 'invalid transaction state',
  '40': 'transaction rollback',
  '42': 'syntax error or access rule violation',
  '53': 'insufficient resources',
  '54': 'program limit exceeded',
  '55': 'object not in prerequisite state',
  '57': 'operator intervention',
  '58': 'system error',
  P0: 'PL/pgSQL error',
  XX: 'internal error',
};

/** `PostgreSQL error 23505 (unique violation), constraint "…"`: no value, whatever the error quoted. */
export function pgErrorText(err: Error & PgErrorFields): string {
  const condition = CONDITIONS[err.code] ?? CLASSES[err.code.slice(0, 2)] ?? 'error';
  const named = err.constraint ? `, constraint "${err.constraint}"` : err.column ? `, column "${err.column}"` : '';
  return `PostgreSQL error ${err.code} (${condition})${named}`;
}

/**
 * What of any error may go into a log or a Temporal failure: a PostgreSQL error (also as the cause
 * of another) as pgErrorText, anything else (a lost connection, a timeout) as the first line of its
 * message, which hooksync's own errors and the network's keep free of data.
 */
export function safeErrorText(err: unknown): string {
  const pgErr = pgErrorIn(err);
  if (pgErr) return pgErrorText(pgErr);
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0]!.slice(0, 300);
}

/** The PostgreSQL error an error is, or was caused by. */
export function pgErrorIn(err: unknown, depth = 0): (Error & PgErrorFields) | undefined {
  if (isPgError(err)) return err;
  const cause = (err as { cause?: unknown } | null | undefined)?.cause;
  return depth < 5 && cause !== undefined ? pgErrorIn(cause, depth + 1) : undefined;
}
