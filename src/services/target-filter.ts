import { FilterError, matchProblem, normalizeFields, UNMATCHED, type RowFilter, type Unmatched } from '../integrations/row-filter';
import type { IntegrationDescriptor } from '../integrations/types';
import { ServiceError } from './errors';

export { filterOf } from '../db/target-filters';

/** A target's filter as `create` and `update` take it: null clears a part, undefined leaves it. */
export interface FilterInput {
  match?: Record<string, unknown> | null;
  fields?: string[] | null;
  unmatched?: Unmatched;
}

/** The filter as shown (`info --json`: `match`, `fields`, `unmatched`). */
export interface FilterView {
  /** The JSON object a row's `data` must contain; null: every row. */
  match: Record<string, unknown> | null;
  /** The columns and JSON pointers delivered; null: every column. */
  fields: string[] | null;
  /** A row that does not match: left out (`skip`) or sent as a key-only row with "hooksync_unmatched": true (`tombstone`). */
  unmatched: Unmatched;
}

export const filterGiven = (i: FilterInput | undefined) => i !== undefined && (i.match !== undefined || i.fields !== undefined || i.unmatched !== undefined);

/**
 * `base` changed by `input`, checked against the integration's table: `match` a JSON object,
 * `fields` the table's columns and pointers into its JSON (an unknown column is refused).
 */
export function checkedFilter(d: IntegrationDescriptor, base: RowFilter, input: FilterInput): RowFilter {
  const next = { ...base };
  if (input.match !== undefined) {
    const problem = input.match === null ? undefined : matchProblem(input.match);
    if (problem) throw new ServiceError('invalid', problem);
    next.match = input.match;
  }
  if (input.fields !== undefined) {
    try {
      next.fields = input.fields === null ? null : normalizeFields(d, input.fields);
    } catch (err) {
      if (err instanceof FilterError) throw new ServiceError('invalid', `fields: ${err.message}`);
      throw err;
    }
  }
  if (input.unmatched !== undefined) {
    if (!UNMATCHED.includes(input.unmatched)) throw new ServiceError('invalid', 'unmatched must be "skip" or "tombstone"');
    next.unmatched = input.unmatched;
  }
  return next;
}
