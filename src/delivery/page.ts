import { postPage, type PostOutcome } from '../http/post-page';
import type { TargetUrl } from '../http/target-url';
import type { Cursor } from '../workflows/types';

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
  /** Rows after the cursor; `rows` are the rows rendered as JSON text each. */
  | { kind: 'rows'; targetId: string; rows: string[]; first: Cursor; last: Cursor }
  /** The empty page that checks an endpoint before a target is saved with it. */
  | { kind: 'verification' };

/**
 * The same page is the same rows: the id is the positions of its first and last row (a row
 * version's position is unique, and rows only ever leave that range), so it does not depend on
 * where the sender resumed, e.g. after a worker crash.
 */
export function pageId(targetId: string, first: Cursor, last: Cursor): string {
  return `${targetId}:${first.txid}.${first.seq}-${last.txid}.${last.seq}`;
}

/** The body, with exactly the keys of the delivery contract; rows are spliced in as they are. */
export function pageBody(source: PageSource, rows: string[], now = new Date()): string {
  return (
    `{"rows":[${rows.join(',')}],"integration_id":${JSON.stringify(source.id)},"integration_service":${JSON.stringify(source.service)},` +
    `"table":${JSON.stringify(source.table)},"sync_timestamp":${JSON.stringify(now.toISOString())}}`
  );
}

export function sendPage(url: TargetUrl, source: PageSource, page: PageKind, timeoutMs: number, signal?: AbortSignal): Promise<PostOutcome> {
  if (page.kind === 'verification') return postPage(url, pageBody(source, []), { 'hooksync-verification': '1' }, timeoutMs, signal);
  const headers = { 'hooksync-page-id': pageId(page.targetId, page.first, page.last), 'hooksync-target-id': page.targetId };
  return postPage(url, pageBody(source, page.rows), headers, timeoutMs, signal);
}
