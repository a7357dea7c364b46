import { clip } from '../text/format';
import { mdCode } from '../text/markdown';
import type { TargetLabels } from './httpsync';

/**
 * The static summaries (one line of Markdown) the Temporal UI shows of a workflow, fixed by
 * whoever starts it. The URL is the masked one; no credentials reach Temporal.
 */

/** An HTTP Sync workflow: what is synced where. */
export function summaryMarkdown(labels: TargetLabels): string {
  return `HTTP Sync of ${mdCode(labels.table)} (${labels.service} ${mdCode(labels.integrationId)}) to ${mdCode(clip(labels.maskedUrl, 160))}`;
}

/** A backfill workflow. */
export function backfillSummary(table: string, service: string, integrationId: string, apiBase: string): string {
  return `Backfill of ${mdCode(table)} (${service} ${mdCode(integrationId)}) from ${mdCode(apiBase)}`;
}

/** The reconciler workflow (self-repair). */
export const RECONCILER_SUMMARY = 'Self-repair: every minute (and when a worker starts), makes sure every HTTP Sync target has a running workflow, and runs the other repairs its details list';
