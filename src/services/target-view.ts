import { getTarget, type TargetRow, type TargetSettingsRow } from '../db/targets';
import { httpSyncWorkflowId } from '../contract/names';
import type { ServiceDeps } from './deps';
import { ServiceError } from './errors';
import { filterOf, type FilterView } from './target-filter';
import { dbError } from './errors';

/** A target as the API and the CLI show it: its row, the URL masked, and its workflow's id. */
export interface TargetView extends TargetSettingsRow, FilterView {
  id: string;
  integration_id: string;
  integration_service: string;
  table: string;
  /** Masked: https://***:***@host/path. */
  url: string;
  created_at: string;
  workflow_id: string;
}

export const view = (t: TargetRow): TargetView => ({
  id: t.id,
  integration_id: t.integration_id,
  integration_service: t.service,
  table: t.table_name,
  url: t.url_masked,
  period_seconds: t.period_seconds,
  page_size: t.page_size,
  timeout_seconds: t.timeout_seconds,
  mode: t.mode,
  paused: t.paused,
  ...filterOf(t),
  created_at: t.created_at.toISOString(),
  workflow_id: httpSyncWorkflowId(t.id),
});

/** The target's row; not found when it does not exist or was deleted. */
export async function loadTarget(deps: ServiceDeps, id: string): Promise<TargetRow> {
  const t = await getTarget(deps.pool, id).catch((err) => {
    throw dbError(err);
  });
  if (!t || t.deleted_at) throw new ServiceError('not_found', `no HTTP Sync target ${id}`);
  return t;
}
