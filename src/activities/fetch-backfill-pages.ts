import { ApplicationFailure, Context, log } from '@temporalio/activity';
import type pg from 'pg';
import { safeErrorText } from '../db/pg-error';
import { loadBackfillApiKey } from '../db/backfill-credentials';
import type { Keyring } from '../secrets/keyring';
import { integrationRef, upsertListedPage } from '../db/integration-tables';
import { getListPage } from '../http/list-page';
import { resolvePointer } from '../integrations/json-pointer';
import { upsertListedSql } from '../integrations/sql';
import type { IntegrationDescriptor, ListApi } from '../integrations/types';
import type { FetchPagesFailureDetails, FetchPagesInput, FetchPagesResult } from '../contract/backfill';
import { rowsChangedSignal } from '../contract/messages';
import { httpSyncWorkflowId } from '../contract/names';

export interface FetchPagesOptions {
  /** Lists pages until the last one or until this much time has passed; then the workflow records the cursor. */
  budgetMs?: number;
  /** Per request. */
  timeoutMs?: number;
}

const BUDGET_MS = 10_000;
// Within the heartbeat timeout (20 s): a page that hangs fails and is asked again, rather than looking like a lost worker.
const TIMEOUT_MS = 15_000;

/** Refused for good: asking again will not help (the workflow stops, state `failed`). */
const refused = (message: string, details?: FetchPagesFailureDetails) =>
  ApplicationFailure.create({ message, type: 'BackfillRefused', nonRetryable: true, details: details ? [details] : [] });

/** The URL of the page after `cursor` (the first page without one). */
export function pageUrl(apiBase: string, list: ListApi, pageSize: number, cursor?: string): URL {
  const url = new URL(apiBase);
  // A base with a path (a proxy's prefix) keeps it: the list path is appended, not substituted.
  url.pathname = url.pathname.replace(/\/$/, '') + list.path;
  url.searchParams.set(list.limitParam, String(pageSize));
  if (cursor !== undefined) url.searchParams.set(list.afterParam, cursor);
  return url;
}

/** The resources of a page as [remote key, resource] pairs, and whether more pages follow; a string says what is wrong. */
export function readPage(list: ListApi, body: unknown): { items: Array<[string, unknown]>; hasMore: boolean } | string {
  const items = resolvePointer(body, list.itemsPointer);
  if (!Array.isArray(items)) return `the page has no array at ${list.itemsPointer}`;
  const hasMore = resolvePointer(body, list.hasMorePointer);
  if (typeof hasMore !== 'boolean') return `the page has no boolean at ${list.hasMorePointer}`;
  const pairs: Array<[string, unknown]> = [];
  for (const item of items) {
    const key = resolvePointer(item, list.keyPointer);
    if (typeof key !== 'string' || key === '') return `a listed resource has no key at ${list.keyPointer}`;
    pairs.push([key, item]);
  }
  return { items: pairs, hasMore };
}

/**
 * A listed copy's version time: when it was asked for, rounded down to the upstream's timestamp
 * resolution, and never later than the upstream's own clock said (the Date header): a clock
 * running ahead here must not make a copy look newer than a change the upstream made after it.
 */
export function listedVersionTime(askedAtMs: number, upstreamDateMs: number | undefined, resolutionMs: number): number {
  const t = upstreamDateMs === undefined ? askedAtMs : Math.min(askedAtMs, upstreamDateMs);
  return Math.floor(t / resolutionMs) * resolutionMs;
}

/**
 * Lists the upstream's resources page after page from the cursor on, upserting each page through
 * the conditional upsert (a listed copy never replaces a newer webhook version) and heartbeating
 * the new cursor after each, until the last page or the time budget. A failure carries what was
 * done before it (and the upstream's Retry-After) to the workflow, which retries.
 */
export function createFetchBackfillPages({ pool, keyring }: { pool: pg.Pool; keyring?: Keyring }, opts: FetchPagesOptions = {}) {
  const budgetMs = opts.budgetMs ?? BUDGET_MS;
  const timeoutMs = opts.timeoutMs ?? TIMEOUT_MS;
  const statements = new Map<string, string>();

  return async function fetchBackfillPages(input: FetchPagesInput): Promise<FetchPagesResult> {
    const ctx = Context.current();
    const started = Date.now();
    const ref = await integrationRef(pool, input.integrationId);
    if (!ref) throw refused(`integration ${input.integrationId} does not exist`);
    const d: IntegrationDescriptor = ref.descriptor;
    const list = d.list;
    if (!list) throw refused(`${d.service} declares no list API to backfill from`);
    const apiKey = await loadBackfillApiKey(pool, keyring, input.integrationId);
    if (!apiKey) throw refused(`no API key is stored for ${input.integrationId}: start the backfill with --api-key`);
    let sql = statements.get(input.integrationId);
    if (!sql) statements.set(input.integrationId, (sql = upsertListedSql(d, ref.table)));

    const progress: FetchPagesResult = { ...(input.cursor !== undefined ? { cursor: input.cursor } : {}), pages: 0, rows: 0, applied: 0, done: false };
    const failed = (message: string, permanent: boolean, retryAfterMs?: number) => {
      const details: FetchPagesFailureDetails = { partial: { ...progress }, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
      return permanent ? refused(message, details) : ApplicationFailure.create({ message, type: 'BackfillPageFailed', details: [details] });
    };

    for (;;) {
      const url = pageUrl(input.apiBase, list, list.pageSize, progress.cursor);
      const askedAt = Date.now();
      const page = await getListPage(url, apiKey, { timeoutMs, headers: list.headers, signal: ctx.cancellationSignal });
      if (!page.ok) {
        log.warn('backfill page failed', { integrationId: input.integrationId, cursor: progress.cursor ?? null, error: page.error, retryAfterMs: page.retryAfterMs });
        throw failed(page.error, page.permanent, page.retryAfterMs);
      }
      const read = readPage(list, page.body);
      if (typeof read === 'string') throw failed(`${read} (from ${url.host})`, false);
      if (read.items.length > 0) {
        const versionAt = listedVersionTime(askedAt, page.dateMs, list.timestampResolutionMs);
        let applied: number;
        let targets: string[];
        try {
          ({ applied, targets } = await upsertListedPage(pool, sql, input.integrationId, read.items, versionAt));
        } catch (err) {
          throw failed(`the upsert of a listed page failed: ${safeErrorText(err)}`, false);
        }
        progress.applied += applied;
        await wakeTargets(input.integrationId, targets);
        progress.cursor = read.items[read.items.length - 1]![0];
      }
      progress.pages += 1;
      progress.rows += read.items.length;
      progress.lastPageAt = new Date().toISOString();
      ctx.heartbeat({ ...progress });
      if (!read.hasMore || read.items.length === 0) return { ...progress, done: true };
      if (Date.now() - started >= budgetMs) return progress;
    }
  };
}

/** Rows changed: the on-insert targets sync now rather than at their next period. A failure is logged, not fatal. */
async function wakeTargets(integrationId: string, targetIds: string[]): Promise<void> {
  if (targetIds.length === 0) return;
  const client = Context.current().client;
  await Promise.all(
    targetIds.map((targetId) =>
      client.workflow
        .getHandle(httpSyncWorkflowId(targetId))
        .signal(rowsChangedSignal)
        .catch((err: Error) => log.warn('could not signal rowsChanged to an on-insert target; it syncs at its next period', { integrationId, targetId, error: err.message })),
    ),
  );
}
