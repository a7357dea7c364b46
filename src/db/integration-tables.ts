import type pg from 'pg';
import { findDescriptor } from '../integrations';
import type { IntegrationDescriptor } from '../integrations/types';

export interface IntegrationRef {
  id: string;
  service: string;
  table: string;
  descriptor: IntegrationDescriptor;
}

/** An integration's service and table never change, so one lookup per process is enough. */
const cache = new Map<string, IntegrationRef>();

export async function integrationRef(pool: pg.Pool, id: string): Promise<IntegrationRef | undefined> {
  const hit = cache.get(id);
  if (hit) return hit;
  const { rows } = await pool.query<{ service: string; table_name: string }>(
    'SELECT service, table_name FROM integrations WHERE id = $1',
    [id],
  );
  const row = rows[0];
  if (!row) return undefined;
  const descriptor = findDescriptor(row.service);
  if (!descriptor) throw new Error(`integration ${id} has unknown service ${row.service}`);
  const ref = { id, service: row.service, table: row.table_name, descriptor };
  cache.set(id, ref);
  return ref;
}

/** After its table went missing (the integration was deleted): look it up again next time. */
export function forgetIntegrationRef(id: string): void {
  cache.delete(id);
}
