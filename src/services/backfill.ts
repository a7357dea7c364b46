import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import { loadBackfillApiKey, saveBackfillApiKey } from '../db/backfill-credentials';
import { targetGuard, TargetRefusedError } from '../http/address-guard';
import { plainHttpAllowed, plainHttpRefusal } from '../http/target-url';
import { findDescriptor } from '../integrations';
import type { ListApi } from '../integrations/types';
import { integrationIdKey } from '../temporal/client';
import { WORKFLOW_TYPES, type BackfillWorkflow } from '../contract/workflows';
import type { BackfillStatus } from '../contract/backfill';
import { backfillSummary } from '../contract/summaries';
import { backfillStatusQuery } from '../contract/messages';
import { backfillWorkflowId } from '../contract/names';
import type { ServiceDeps } from './deps';
import { ServiceError, unavailable } from './errors';
import { dbError } from './errors';
import { getIntegration } from './integrations';

/** `integrations backfill` and `info`: a backfill's state as Temporal knows it. */
export interface BackfillView {
  integration_id: string;
  workflow_id: string;
  /** `never`: none was started (or Temporal no longer keeps it); `stopped`: terminated or cancelled; `unknown`: Temporal could not be asked. */
  state: 'never' | 'running' | 'retrying' | 'done' | 'failed' | 'stopped' | 'unknown';
  /** Temporal's status of the workflow (RUNNING, COMPLETED, TERMINATED, …); null when there is none or Temporal could not be asked. */
  workflow_status: string | null;
  api_base: string | null;
  pages: number;
  rows: number;
  applied: number;
  cursor: string | null;
  started_at: string | null;
  finished_at: string | null;
  last_page_at: string | null;
  last_error: string | null;
  retry: { since: string; attempts: number; next_attempt_at: string; error: string } | null;
  /** Why the figures are missing (state `unknown`). */
  workflow_unreachable: string | null;
}

export interface BackfillStart extends BackfillView {
  /** false: a backfill of this integration was running already, and is left to go on. */
  started: boolean;
}

const ASK_DEADLINE_MS = 5_000;

function listApiOf(service: string): ListApi {
  const list = findDescriptor(service)?.list;
  if (!list) throw new ServiceError('invalid', `${service} has no list API to backfill from`);
  return list;
}

/**
 * The API base a user gave (or the descriptor's default), checked as target URLs are: https (http
 * only with HOOKSYNC_ALLOW_HTTP), no credentials, and a host the address guard lets through.
 * Returns it normalized, without a trailing slash.
 */
export async function checkApiBase(deps: ServiceDeps, raw: string): Promise<string> {
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    throw new ServiceError('invalid', `--api-base: not a valid URL: ${JSON.stringify(raw.slice(0, 200))}`);
  }
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && plainHttpAllowed(u.hostname, deps.config.HOOKSYNC_ALLOW_HTTP))) {
    throw new ServiceError('invalid', `the API base must use https${u.protocol === 'http:' ? ` (${plainHttpRefusal(deps.config.HOOKSYNC_ALLOW_HTTP)})` : ''}`);
  }
  if (u.username || u.password) throw new ServiceError('invalid', 'the API base may not carry credentials: give the API key with --api-key');
  if (u.search || u.hash) throw new ServiceError('invalid', 'the API base is a scheme, host and optional path prefix, without a query or fragment');
  try {
    await targetGuard().check(u.hostname);
  } catch (err) {
    if (err instanceof TargetRefusedError) {
      throw new ServiceError('target_refused', `the API base ${u.origin} is refused: ${err.why}, which hooksync may not reach; list it in HOOKSYNC_ALLOWED_TARGET_HOSTS to allow it`);
    }
    throw err;
  }
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
}

const viewOf = (integrationId: string, workflowStatus: string | null, s?: BackfillStatus): BackfillView => ({
  integration_id: integrationId,
  workflow_id: backfillWorkflowId(integrationId),
  state: !s ? (workflowStatus ? 'stopped' : 'never') : workflowStatus !== null && workflowStatus !== 'RUNNING' && workflowStatus !== 'COMPLETED' ? 'stopped' : s.state,
  workflow_status: workflowStatus,
  api_base: s?.apiBase ?? null,
  pages: s?.pages ?? 0,
  rows: s?.rows ?? 0,
  applied: s?.applied ?? 0,
  cursor: s?.cursor ?? null,
  started_at: s?.startedAt ?? null,
  finished_at: s?.finishedAt ?? null,
  last_page_at: s?.lastPageAt ?? null,
  last_error: s?.lastError ?? null,
  retry: s?.retry ? { since: s.retry.since, attempts: s.retry.attempts, next_attempt_at: s.retry.nextAttemptAt, error: s.retry.error } : null,
  workflow_unreachable: null,
});

/**
 * The backfill's state: the running workflow's query; a completed one's result; of one stopped
 * otherwise (terminated, failed) what a query of its history still tells, if a worker answers.
 */
export async function backfillStatus(deps: ServiceDeps, integrationId: string): Promise<BackfillView> {
  await getIntegration(deps, integrationId);
  const handle = deps.temporal.client.workflow.getHandle(backfillWorkflowId(integrationId));
  try {
    return await deps.temporal.connection.withDeadline(Date.now() + ASK_DEADLINE_MS, async () => {
      const d = await handle.describe();
      const status = d.status.name;
      if (status === 'RUNNING') return viewOf(integrationId, status, await handle.query(backfillStatusQuery));
      if (status === 'COMPLETED') return viewOf(integrationId, status, (await handle.result()) as BackfillStatus);
      const last = await handle.query(backfillStatusQuery).catch(() => undefined);
      return viewOf(integrationId, status, last);
    });
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return viewOf(integrationId, null);
    return { ...viewOf(integrationId, null), state: 'unknown', workflow_unreachable: (err as Error).message };
  }
}

/**
 * Starts `backfill-<integrationId>`, which lists the upstream's resources into the table. The API
 * key is stored (for this and later runs; without one given, the stored one is used). A backfill
 * that is running already is left alone: `started` is false and its state is returned. One that
 * finished (or failed, or was stopped) can be started again; it lists everything again from the
 * start, and only rows it finds newer and different change.
 */
export async function startBackfill(deps: ServiceDeps, integrationId: string, input: { apiKey?: string; apiBase?: string }): Promise<BackfillStart> {
  const integration = await getIntegration(deps, integrationId);
  const list = listApiOf(integration.service);
  const descriptor = findDescriptor(integration.service)!;
  if (input.apiKey !== undefined && !list.apiKeyPattern.test(input.apiKey)) {
    throw new ServiceError('invalid', `a ${descriptor.upstream} API key looks like ${list.apiKeyExample}`);
  }
  const apiBase = await checkApiBase(deps, input.apiBase ?? list.defaultBase);
  if (input.apiKey === undefined) {
    const stored = await loadBackfillApiKey(deps.pool, deps.keyring, integrationId).catch((err) => {
      throw dbError(err);
    });
    if (!stored) throw new ServiceError('invalid', `no API key is stored for ${integrationId}: give one (${list.apiKeyExample})`);
  }

  const current = await backfillStatus(deps, integrationId);
  if (current.state === 'unknown') throw unavailable('Temporal', new Error(current.workflow_unreachable ?? 'no answer'));
  if (current.workflow_status === 'RUNNING') return { ...current, started: false };

  if (input.apiKey !== undefined) {
    await saveBackfillApiKey(deps.pool, deps.keyring, integrationId, input.apiKey).catch((err) => {
      throw dbError(err);
    });
  }
  try {
    await deps.temporal.client.workflow.start<BackfillWorkflow>(WORKFLOW_TYPES.backfill, {
      workflowId: backfillWorkflowId(integrationId),
      taskQueue: deps.config.HOOKSYNC_TASK_QUEUE,
      args: [{ integrationId, service: integration.service, table: integration.table, apiBase, historyLimit: deps.config.HOOKSYNC_HISTORY_LIMIT }],
      workflowIdConflictPolicy: 'FAIL',
      typedSearchAttributes: [{ key: integrationIdKey, value: integrationId }],
      staticSummary: backfillSummary(integration.table, integration.service, integrationId, apiBase),
      staticDetails: `Backfill of integration \`${integrationId}\`: lists ${list.path} page by page, upserting each page like webhook events (a listed copy never replaces a newer version). Query: backfillStatus.`,
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return { ...(await backfillStatus(deps, integrationId)), started: false };
    throw unavailable('Temporal', err);
  }
  const now = new Date().toISOString();
  return {
    ...viewOf(integrationId, 'RUNNING', { integrationId, state: 'running', apiBase, pages: 0, rows: 0, applied: 0, startedAt: now, runs: 1 }),
    started: true,
  };
}

/** Waits until the backfill is over; its final state. */
export async function waitForBackfill(deps: ServiceDeps, integrationId: string): Promise<BackfillView> {
  const handle = deps.temporal.client.workflow.getHandle(backfillWorkflowId(integrationId));
  try {
    await handle.result();
  } catch (err) {
    // Terminated or failed: the state says so.
    if (err instanceof WorkflowNotFoundError) throw new ServiceError('not_found', `no backfill of ${integrationId} was started`);
  }
  return backfillStatus(deps, integrationId);
}
