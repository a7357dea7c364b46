import { integrationRef } from '../db/integration-tables';
import { getTarget, insertTarget, listTargets, markTargetDeleted, removeTarget, updateTargetSettings } from '../db/targets';
import { lockDeliveriesInTransaction } from '../db/delivery-lock';
import { sendPage, type PageSource } from '../delivery/page';
import { parseTargetUrl, TargetUrlError, type TargetUrl } from '../http/target-url';
import { generateSigningSecret } from '../delivery/signature';
import { sealSecret } from '../secrets/stored';
import { IN_FLIGHT_MARGIN_MS, waitForPostInFlight } from '../db/post-in-flight';
import { restoreTargetFilter, storeTargetFilter } from '../db/target-filters';
import { findDescriptor } from '../integrations';
import { NO_FILTER } from '../integrations/row-filter';
import { checkedFilter, filterGiven, filterOf, type FilterInput } from './target-filter';
import { DRAIN_BUDGET_MS } from '../contract/delivery';
import type { SyncMode, TargetChange } from '../contract/httpsync';
import { deleteSignal } from '../contract/messages';
import { httpSyncWorkflowId } from '../contract/names';
import { settingsProblems } from '../contract/target-settings';
import { startTargetWorkflow } from '../temporal/target-workflow';
import { workflowStarter, type ServiceDeps } from './deps';
import { ServiceError, unavailable } from './errors';
import { newId } from './ids';
import { dbError } from './errors';
import { checkTargetAddress } from './target-address';
import { signingSecrets } from './target-secrets';
import { changeSettingsThenTell } from './target-signals';
import { loadTarget, view, type TargetView } from './target-view';

/** HTTP Sync targets: create (after a verification POST), list, change and delete. */

export const TARGET_DEFAULTS = { periodSeconds: 60, pageSize: 200, timeoutSeconds: 60, mode: 'interval' as SyncMode };

export interface TargetInput {
  url: string;
  periodSeconds: number;
  pageSize: number;
  timeoutSeconds: number;
  mode: SyncMode;
  /** `--match`, `--fields`, `--unmatched` (see target-filter.ts). */
  filter?: FilterInput;
}

/** Bounds shared by the CLI, the API and the running workflow (src/contract/target-settings.ts). */
export function checkSettings(s: Partial<TargetInput> & { filter?: FilterInput }): void {
  const { url: _url, filter: _filter, ...settings } = s;
  const defined = Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined));
  const problems = settingsProblems(defined);
  if (problems.length > 0) throw new ServiceError('invalid', problems.join('; '));
}

function parseUrl(deps: ServiceDeps, raw: string): TargetUrl {
  // The URL is stored as given: PostgreSQL would refuse a NUL in it only after the verification POST.
  if (/[\x00-\x1f\x7f]/.test(raw.trim())) throw new ServiceError('invalid', 'the URL contains control characters');
  try {
    return parseTargetUrl(raw, { allowHttp: deps.config.HOOKSYNC_ALLOW_HTTP });
  } catch (err) {
    if (err instanceof TargetUrlError) throw new ServiceError('invalid', err.message);
    throw err;
  }
}

/**
 * The verification POST: an empty page, signed as the target's pages are, must be answered 2xx
 * before a target is saved with a URL.
 */
async function verifyEndpoint(url: TargetUrl, source: PageSource, targetId: string, signingSecrets: readonly string[], timeoutSeconds: number) {
  await checkTargetAddress(url);
  const outcome = await sendPage(url, source, { kind: 'verification', targetId }, signingSecrets, timeoutSeconds * 1000);
  if (!outcome.ok) {
    throw new ServiceError('verification_failed', `the verification POST (an empty page) to ${url.masked} failed: ${outcome.error}`);
  }
}

/** A new target, with its signing secret: shown once, here (it is stored sealed). */
export interface CreatedTargetView extends TargetView {
  /** Standard Webhooks secret (whsec_…) every POST to this target is signed with. */
  signing_secret: string;
}

export async function createTarget(deps: ServiceDeps, integrationId: string, input: TargetInput): Promise<CreatedTargetView> {
  checkSettings(input);
  const url = parseUrl(deps, input.url);
  const ref = await integrationRef(deps.pool, integrationId).catch((err) => {
    throw dbError(err);
  });
  if (!ref) throw new ServiceError('not_found', `no integration ${integrationId}`);
  const filter = filterGiven(input.filter) ? checkedFilter(ref.descriptor, NO_FILTER, input.filter!) : undefined;
  const id = newId('hst');
  const signingSecret = generateSigningSecret();
  await verifyEndpoint(url, ref, id, [signingSecret], input.timeoutSeconds);
  const { filter: _input, ...settings } = input;
  await insertTarget(deps.pool, id, integrationId, {
    ...settings,
    filter,
    url: sealSecret(deps.keyring, 'sync_targets.url', id, input.url.trim()),
    urlMasked: url.masked,
    signingSecret: sealSecret(deps.keyring, 'sync_targets.signing_secret', id, signingSecret),
  }).catch((err) => {
    throw dbError(err);
  });
  const t = (await getTarget(deps.pool, id))!;
  try {
    // 'running' too is fine: self-repair may have started it already.
    await startTargetWorkflow(workflowStarter(deps), t);
  } catch (err) {
    // No workflow, no target: a refused request leaves nothing behind.
    await removeTarget(deps.pool, id).catch(() => {});
    throw unavailable('Temporal', err);
  }
  return { ...view(t), signing_secret: signingSecret };
}

export async function listTargetViews(deps: ServiceDeps, integrationId?: string): Promise<TargetView[]> {
  const rows = await listTargets(deps.pool, integrationId).catch((err) => {
    throw dbError(err);
  });
  return rows.map(view);
}

export interface TargetPatch {
  url?: string;
  periodSeconds?: number;
  pageSize?: number;
  timeoutSeconds?: number;
  mode?: SyncMode;
  filter?: FilterInput;
}

export async function updateTarget(deps: ServiceDeps, id: string, patch: TargetPatch): Promise<TargetView> {
  checkSettings(patch);
  const t = await loadTarget(deps, id);
  const url = patch.url !== undefined ? parseUrl(deps, patch.url) : undefined;
  const descriptor = findDescriptor(t.service);
  if (!descriptor) throw new ServiceError('invalid', `integration ${t.integration_id} has an unknown service ${t.service}`);
  const filter = filterGiven(patch.filter) ? checkedFilter(descriptor, filterOf(t), patch.filter!) : undefined;
  const change: TargetChange = {};
  if (patch.periodSeconds !== undefined) change.periodSeconds = patch.periodSeconds;
  if (patch.pageSize !== undefined) change.pageSize = patch.pageSize;
  if (patch.timeoutSeconds !== undefined) change.timeoutSeconds = patch.timeoutSeconds;
  if (patch.mode !== undefined) change.mode = patch.mode;
  if (url) change.maskedUrl = url.masked;
  await changeSettingsThenTell(
    deps,
    id,
    async (db) => {
      if (url || filter) {
        // The verification POST holds the target's delivery lock, as each delivery does: the
        // receiver never gets it beside a page. A new filter too: it then applies from exactly the
        // cursor it is stored with. Wait for a delivery in flight (its time budget and one POST) to finish.
        await lockDeliveriesInTransaction(db, id, DRAIN_BUDGET_MS + t.timeout_seconds * 1000 + 5_000);
        // And, as a delivery does, for a POST whose delivery lost its lock session (lock-delay).
        await waitForPostInFlight(db, id, t.timeout_seconds * 1000 + IN_FLIGHT_MARGIN_MS);
      }
      if (url) {
        await verifyEndpoint(url, { id: t.integration_id, service: t.service, table: t.table_name }, id, signingSecrets(deps, t), patch.timeoutSeconds ?? t.timeout_seconds);
      }
      if (filter) await storeTargetFilter(db, id, filter);
      const { filter: _input, ...settings } = patch;
      const stored = { ...settings, url: patch.url === undefined ? undefined : sealSecret(deps.keyring, 'sync_targets.url', id, patch.url.trim()), urlMasked: url?.masked };
      if (!(await updateTargetSettings(db, id, stored))) throw new ServiceError('not_found', `no HTTP Sync target ${id}`);
    },
    change,
    // Temporal surely not reached: back to the settings before, as if the update had never been asked for.
    async (pool) => {
      await updateTargetSettings(pool, id, { url: t.url, urlMasked: t.url_masked, periodSeconds: t.period_seconds, pageSize: t.page_size, timeoutSeconds: t.timeout_seconds, mode: t.mode });
      if (filter) await restoreTargetFilter(pool, id, { ...filterOf(t), sinceTxid: t.filter_since_txid, sinceSeq: t.filter_since_seq });
    },
    { notRunning: 'keep' },
  );
  return view((await getTarget(deps.pool, id))!);
}

export async function deleteTarget(deps: ServiceDeps, id: string): Promise<TargetView> {
  const t = await loadTarget(deps, id);
  // The database first: a delivery in flight checks it after every page and stops.
  await markTargetDeleted(deps.pool, id).catch((err) => {
    throw dbError(err);
  });
  // Best effort: deliveries check deleted_at themselves, the workflow ends at its next attempt,
  // and self-repair tells it again if this signal is lost.
  await deps.temporal.client.workflow
    .getHandle(httpSyncWorkflowId(id))
    .signal(deleteSignal)
    .catch(() => {});
  return view(t);
}
