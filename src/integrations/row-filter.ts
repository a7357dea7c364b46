import { JsonPointerError, parsePointer } from './json-pointer';
import { rowColumns } from './sql';
import type { IntegrationDescriptor } from './types';

/**
 * A target's filter (`httpsync create|update --match --fields --unmatched`), as data: which rows
 * it delivers (those whose `data` contains `match`), with which of their fields, and what becomes
 * of a row that does not match (left out, or sent as a key-only tombstone). Pure: the page query
 * that applies it is `filteredPageSql` (filter-sql.ts), the checks here run before it is stored.
 */

export type Unmatched = 'skip' | 'tombstone';
export const UNMATCHED: readonly Unmatched[] = ['skip', 'tombstone'];

export interface RowFilter {
  /** A JSON object the row's `data` must contain (jsonb `@>`); null: every row. */
  match: Record<string, unknown> | null;
  /** Column names and RFC 6901 pointers (`/data/x`) as stored; null: every column. */
  fields: string[] | null;
  unmatched: Unmatched;
}

export const NO_FILTER: RowFilter = { match: null, fields: null, unmatched: 'skip' };

export const MAX_FIELDS = 100;
export const MAX_MATCH_BYTES = 16_384;

export class FilterError extends Error {
  override name = 'FilterError';
}

/** Whether the filter changes what a page holds (`unmatched` alone does nothing without `match`). */
export const filters = (f: RowFilter) => f.match !== null || f.fields !== null;

/** Columns every delivered row carries, whatever `fields` says: what a receiver keys, orders and deletes by. */
export const alwaysColumns = (d: IntegrationDescriptor) => ['pk', d.remoteKeyColumn, d.timestampColumn, 'deleted'];

/** The columns of an integration's table as pages carry them, in table order. */
export const tableColumns = (d: IntegrationDescriptor) => [{ name: 'pk', type: 'bigint' }, ...rowColumns(d)];

/** Why `value` cannot be a `match`, or undefined when it can. */
export function matchProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'match must be a JSON object, e.g. {"metadata": {"plan": "pro"}}';
  const text = JSON.stringify(value);
  if (Buffer.byteLength(text) > MAX_MATCH_BYTES) return `match is longer than ${MAX_MATCH_BYTES} bytes`;
  // What PostgreSQL's jsonb refuses: NUL and lone surrogates (JSON.stringify escapes both as \u…).
  if (/\\u(0000|d[89a-f][0-9a-f]{2})/i.test(text)) return 'match holds a character PostgreSQL cannot store (\\u0000 or a lone surrogate)';
  return undefined;
}

/** What `fields` selects: whole columns, and pointers below a jsonb column (`column` + `path`). */
export interface Projection {
  columns: string[];
  pointers: Array<{ column: string; path: string[] }>;
}

/**
 * Checks `fields` against the integration's table and returns them as stored (in the order given,
 * repeats and fields another one already covers left out). A column must be one of the table's; a
 * pointer starts with one (`/data/…`), and only a jsonb column has anything below it.
 */
export function normalizeFields(d: IntegrationDescriptor, fields: readonly string[]): string[] {
  if (fields.length === 0) throw new FilterError('fields must name at least one column or pointer (an empty list clears them: --fields \'\')');
  if (fields.length > MAX_FIELDS) throw new FilterError(`at most ${MAX_FIELDS} fields`);
  const cols = tableColumns(d);
  const known = new Map(cols.map((c) => [c.name, c.type]));
  const parsed = fields.map((raw) => {
    const field = raw.trim();
    if (field === '') throw new FilterError('a field is empty (fields are separated by commas)');
    if (!field.startsWith('/')) {
      if (!known.has(field)) throw new FilterError(`unknown column "${field}"; the columns are ${cols.map((c) => c.name).join(', ')}`);
      return { field, column: field, path: [] as string[] };
    }
    let tokens: string[];
    try {
      tokens = parsePointer(field);
    } catch (err) {
      throw new FilterError((err as JsonPointerError).message);
    }
    const [column, ...path] = tokens;
    if (column === undefined || !known.has(column)) throw new FilterError(`pointer ${field} does not start with a column; the columns are ${cols.map((c) => c.name).join(', ')}`);
    if (path.length > 0 && known.get(column) !== 'jsonb') throw new FilterError(`pointer ${field}: column ${column} is not JSON (only ${cols.filter((c) => c.type === 'jsonb').map((c) => c.name).join(', ')} is)`);
    return { field: path.length === 0 ? column : field, column, path };
  });
  // A field inside another one (a pointer below a whole column or below another pointer) adds nothing.
  const covers = (a: { column: string; path: string[] }, b: { column: string; path: string[] }) =>
    a.column === b.column && a.path.length <= b.path.length && a.path.every((t, i) => t === b.path[i]);
  const kept: typeof parsed = [];
  for (const p of parsed) {
    if (kept.some((k) => covers(k, p))) continue;
    for (let i = kept.length - 1; i >= 0; i--) if (covers(p, kept[i]!)) kept.splice(i, 1);
    kept.push(p);
  }
  return kept.map((k) => k.field);
}

/** The projection of stored (normalized) fields; the always-present columns join the whole ones. */
export function projectionOf(d: IntegrationDescriptor, fields: readonly string[] | null): Projection {
  const all = tableColumns(d).map((c) => c.name);
  if (fields === null) return { columns: all, pointers: [] };
  const whole = new Set([...alwaysColumns(d), ...fields.filter((f) => !f.startsWith('/'))]);
  const pointers = fields.filter((f) => f.startsWith('/')).map((f) => {
    const [column, ...path] = parsePointer(f);
    return { column: column!, path };
  });
  return { columns: all.filter((c) => whole.has(c)), pointers };
}

/**
 * Adds the values found at the projection's pointers to a row rendered as a JSON object (`row`),
 * each nested where it was (`/data/x` → `{"data": {"x": …}}`); a pointer with nothing there
 * (`values[i]` null) is left out. Array indexes become object keys (`/data/items/0` → `"0"`).
 */
export function withPointerValues(row: string, pointers: Projection['pointers'], values: ReadonlyArray<string | null>): string {
  const nested: Record<string, unknown> = Object.create(null);
  let any = false;
  pointers.forEach((p, i) => {
    const value = values[i];
    if (value === null || value === undefined) return;
    let at = nested;
    for (const token of [p.column, ...p.path.slice(0, -1)]) {
      at[token] ??= Object.create(null);
      at = at[token] as Record<string, unknown>;
    }
    at[p.path[p.path.length - 1]!] = JSON.parse(value);
    any = true;
  });
  // `row` is a non-empty object (the always-present columns), and no pointer's column is in it.
  return any ? `${row.slice(0, -1)},${JSON.stringify(nested).slice(1)}` : row;
}
