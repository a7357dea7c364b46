import { Option, type Command } from 'commander';
import { matchProblem, UNMATCHED, type Unmatched } from '../src/integrations/row-filter';
import { ServiceError } from '../src/services/errors';

/** `httpsync create|update --match --fields --unmatched`: a target's filter (src/integrations/row-filter.ts). */

/** As given: parsed by `filterBody` (commander turns a parser's null, the clearing '', into '' again). */
export interface FilterOptions {
  match?: string;
  fields?: string;
  unmatched?: Unmatched;
}

/** '' clears; anything else must be a JSON object. */
function parseMatch(value: string): Record<string, unknown> | null {
  if (value.trim() === '') return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (err) {
    throw new ServiceError('invalid', `--match is not JSON (${(err as Error).message}); give a JSON object, e.g. '{"metadata": {"plan": "pro"}}'`);
  }
  const problem = matchProblem(parsed);
  if (problem) throw new ServiceError('invalid', `--${problem}`);
  return parsed as Record<string, unknown>;
}

/** '' clears; otherwise comma-separated (the service checks them against the table). */
const parseFields = (value: string): string[] | null => (value.trim() === '' ? null : value.split(',').map((f) => f.trim()));

export function addFilterOptions(cmd: Command): Command {
  return cmd
    .option('--match <json>', 'only rows whose data contains this JSON object (jsonb containment), e.g. \'{"metadata": {"plan": "pro"}}\'; \'\' clears it')
    .option(
      '--fields <list>',
      'only these columns and JSON pointers, comma-separated, e.g. email,/data/metadata/plan (a pointer arrives nested where it was; pk, the key, the version time and deleted always come); \'\' clears them',
    )
    .addOption(
      new Option('--unmatched <how>', 'a row that does not match: skip (left out) or tombstone (sent as a key-only row with "hooksync_unmatched": true, so the receiver can drop it)').choices(
        UNMATCHED,
      ),
    );
}

/** The filter keys of a create or update body; left out when not given. */
export const filterBody = (o: FilterOptions) => ({
  ...(o.match !== undefined ? { match: parseMatch(o.match) } : {}),
  ...(o.fields !== undefined ? { fields: parseFields(o.fields) } : {}),
  ...(o.unmatched !== undefined ? { unmatched: o.unmatched } : {}),
});
