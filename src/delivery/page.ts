import { randomBytes } from 'node:crypto';
import { postPage, type PostOutcome } from '../http/post-page';
import type { TargetUrl } from '../http/target-url';
import type { Cursor } from '../contract/cursor';
import { signatureHeaders } from './signature';

/**
 * The one place a page's request is built: the delivery activity's pages and the verification
 * POST (an empty page) of `create` and `update` both go through `sendPage`, so headers added here
 * (e.g. signatures) reach every request a receiver gets.
 */

export interface PageSource {
  id: string;
  service: string;
  table: string;
}

export type PageKind =
  /**
   * Rows after the cursor; `rows` are the rows rendered as JSON text each; `generation` the
   * cursor's (0 until the first `reset`).
   */
  | { kind: 'rows'; targetId: string; rows: string[]; first: Cursor; last: Cursor; generation?: number }
  /** The empty page that checks an endpoint before a target is saved with it. */
  | { kind: 'verification'; targetId: string };

/**
 * The id is the positions of its first and last row (a row version's position is unique), so it
 * does not depend on where the sender resumed, e.g. after a worker crash. The same id means the
 * same rows, or a subset whose missing rows come later: a row in the range that changed before a
 * retry has left it (its new version has a later position, in a later page). After a `reset`
 * (cursor generation above 0) the same positions are sent again on purpose, so the generation is
 * part of the id (`<target>:g<generation>:<first>-<last>`) and a receiver that de-duplicates by id
 * does not drop them; ids of generation 0 keep the form they always had.
 */
export function pageId(targetId: string, first: Cursor, last: Cursor, generation = 0): string {
  const range = `${first.txid}.${first.seq}-${last.txid}.${last.seq}`;
  return generation > 0 ? `${targetId}:g${generation}:${range}` : `${targetId}:${range}`;
}

/** The body, with exactly the keys of the delivery contract; rows are spliced in as they are. */
export function pageBody(source: PageSource, rows: string[], now = new Date()): string {
  return (
    `{"rows":[${rows.join(',')}],"integration_id":${JSON.stringify(source.id)},"integration_service":${JSON.stringify(source.service)},` +
    `"table":${JSON.stringify(source.table)},"sync_timestamp":${JSON.stringify(now.toISOString())}}`
  );
}

/**
 * POSTs a page, signed with each of `signingSecrets` (Standard Webhooks). A page's `webhook-id` is
 * its page id, the same on every retry, so a receiver can de-duplicate by it; the timestamp is the
 * time of each attempt.
 */
export function sendPage(
  url: TargetUrl,
  source: PageSource,
  page: PageKind,
  signingSecrets: readonly string[],
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<PostOutcome> {
  if (page.kind === 'verification') {
    const body = pageBody(source, []);
    const id = `${page.targetId}:verification-${randomBytes(6).toString('hex')}`;
    return postPage(url, body, { 'hooksync-verification': '1', ...signatureHeaders(id, body, signingSecrets) }, timeoutMs, signal);
  }
  const id = pageId(page.targetId, page.first, page.last, page.generation);
  const body = pageBody(source, page.rows);
  const headers = { 'hooksync-page-id': id, 'hooksync-target-id': page.targetId, ...signatureHeaders(id, body, signingSecrets) };
  return postPage(url, body, headers, timeoutMs, signal);
}
