import { z } from 'zod';
import type { BackfillStart, BackfillView } from '../services/backfill';

/** The management API's shapes for backfills (beside schemas.ts). */

const Timestamp = z.string().describe('ISO-8601 timestamp');
const Count = z.number().int().min(0);

export const BackfillIn = z
  .object({
    api_key: z.string().min(1).optional().describe('the upstream API key to list with (Stripe: sk_… or rk_…); stored as a secret; without it, the stored one is used'),
    api_base: z.string().min(1).optional().describe("the upstream API's address (default: the upstream's own, e.g. https://api.stripe.com)"),
  })
  .strict();

export const Backfill = z
  .object({
    integration_id: z.string(),
    workflow_id: z.string().describe('backfill-<integration id>'),
    state: z.enum(['never', 'running', 'retrying', 'done', 'failed', 'stopped', 'unknown']),
    workflow_status: z.string().nullable().describe("Temporal's status of the workflow (RUNNING, COMPLETED, TERMINATED, …)"),
    api_base: z.string().nullable(),
    pages: Count,
    rows: Count.describe('resources listed'),
    applied: Count.describe('rows inserted or changed (a listed copy never replaces a newer version)'),
    cursor: z.string().nullable().describe('the key of the last resource listed; the next page starts after it'),
    started_at: Timestamp.nullable(),
    finished_at: Timestamp.nullable(),
    last_page_at: Timestamp.nullable(),
    last_error: z.string().nullable(),
    retry: z.object({ since: Timestamp, attempts: Count, next_attempt_at: Timestamp, error: z.string() }).strict().nullable(),
    workflow_unreachable: z.string().nullable().describe('why the figures are missing (state unknown)'),
  })
  .strict();

export const BackfillStarted = Backfill.extend({ started: z.boolean().describe('false: one was running already and goes on; nothing new was started') }).strict();

type Documents<Doc, View> = [View] extends [Doc] ? ([keyof Doc] extends [keyof View] ? ([keyof View] extends [keyof Doc] ? true : false) : false) : false;
true satisfies Documents<z.output<typeof Backfill>, BackfillView>;
true satisfies Documents<z.output<typeof BackfillStarted>, BackfillStart>;
