import { z } from 'zod';
import { ID_PATTERN } from '../services/ids';
import { RATE_LIMIT_MAX, RETRY_WAIT_MAX_SECONDS, type IntegrationInfo, type IntegrationView } from '../services/integrations';
import { type DeletedIntegration } from '../services/integration-delete';
import { type RetryFailedResult } from '../services/integration-retry';
import { TARGET_DEFAULTS, type CreatedTargetView } from '../services/targets';
import { type ResetView, type RestartView } from '../services/target-restarts';
import { type RotatedSigningSecretView } from '../services/target-secrets';
import { type TargetInfo, type TargetProgress } from '../services/target-info';
import { type TargetView } from '../services/target-view';

/** The management API's shapes: validated input (…In, …Patch) apart from what is answered. */

const Id = (prefix: string) => z.string().regex(ID_PATTERN, 'not an id (letters, digits, _ and -)').describe(`an id like ${prefix}_…`);
const Timestamp = z.string().describe('ISO-8601 timestamp');
const Count = z.number().int().min(0);

export const ErrorBody = z.object({ code: z.string().describe('machine-readable, e.g. invalid, not_found, unauthorized'), detail: z.string() }).strict();

export const IdParams = z.object({ id: z.string().regex(ID_PATTERN, 'not an id (letters, digits, _ and -)') }).strict();

export const RateLimit = z
  .number()
  .min(0)
  .max(RATE_LIMIT_MAX)
  .nullable()
  .describe('events per second each API process accepts at the webhook endpoint (429 past it); 0 or null removes the limit');

export const IntegrationIn = z
  .object({
    service: z.string().min(1).describe('the integration kind, e.g. stripe_customer_v1'),
    webhook_secret: z.string().min(1).optional().describe('the upstream signing secret (Stripe and Standard Webhooks: whsec_…; GitHub: the secret you chose)'),
    remote_key: z.string().optional().describe('standard_webhooks_v1: RFC 6901 JSON pointer to the resource\'s key in each payload, e.g. /data/id'),
    timestamp: z
      .string()
      .optional()
      .describe('standard_webhooks_v1: RFC 6901 JSON pointer to the version time (ISO-8601 string or Unix seconds), e.g. /data/updated_at'),
    deleted: z
      .string()
      .optional()
      .describe('standard_webhooks_v1 and hmac_v1, optional: JSON pointer to a boolean that is true when the resource was deleted; hmac_v1 also POINTER=VALUE, e.g. /action=remove'),
    preset: z.string().optional().describe('hmac_v1: shopify, linear, intercom or zendesk; the settings below override the preset\'s'),
    signature_header: z.string().optional().describe('hmac_v1: the header carrying the signature, e.g. X-Shopify-Hmac-Sha256'),
    algorithm: z.string().optional().describe('hmac_v1: sha256 (default), sha1 or sha512'),
    encoding: z.string().optional().describe('hmac_v1: hex (default) or base64'),
    signature_prefix: z.string().optional().describe('hmac_v1: text before the digest in the header, e.g. sha256='),
    signed_payload: z.string().optional().describe('hmac_v1: what is signed, {body} (default), or e.g. {timestamp}{body} or v0:{timestamp}:{body}'),
    timestamp_header: z.string().optional().describe('hmac_v1: the header whose value replaces {timestamp} (Unix seconds or ISO-8601)'),
    tolerance: z.number().optional().describe('hmac_v1: seconds a signature timestamp may be away from now (default 300)'),
  })
  .strict();

export const IntegrationPatch = z
  .object({ webhook_secret: z.string().min(1).optional(), rate_limit_per_second: RateLimit.optional() })
  .strict()
  .refine((b) => b.webhook_secret !== undefined || b.rate_limit_per_second !== undefined, 'give webhook_secret or rate_limit_per_second');

export const Integration = z
  .object({
    id: Id('svi'),
    service: z.string(),
    table: z.string().describe('the PostgreSQL table holding its rows'),
    webhook_url: z.string().describe('where the upstream sends its webhooks'),
    has_webhook_secret: z.boolean(),
    rate_limit_per_second: z.number().nullable(),
    config: z.record(z.string(), z.unknown()).describe('settings given at creation (standard_webhooks_v1: remote_key, timestamp, deleted; hmac_v1: every setting, a preset\'s included)'),
    created_at: Timestamp,
    events_received: Count.describe('events accepted at the webhook endpoint (applied, discarded as older or redelivered, dead-lettered, or waiting)'),
    events_applied: Count.describe('of those, the versions that changed a row'),
    last_event_at: Timestamp.nullable().describe('when the newest accepted event arrived'),
  })
  .strict();

export const IntegrationDeleted = z
  .object({
    id: Id('svi'),
    service: z.string(),
    table: z.string().describe('the dropped table'),
    targets: z.array(Id('hst')).describe('the targets deleted with it'),
    workflows_terminated: z.array(z.string()).describe('its running workflows (httpsync-…, ingest-…), now terminated'),
  })
  .strict();

export const IntegrationList = z.object({ integrations: z.array(Integration) }).strict();

export const IntegrationInfoBody = Integration.extend({
  rows: Count.nullable().describe("rows in the integration's table; null when they could not be counted at once (the table locked, or very large)"),
  rows_deleted: Count.nullable().describe('of those, the ones marked deleted upstream'),
  inbox_waiting: Count.describe('accepted events not applied yet'),
  inbox_oldest_age_seconds: z.number().nullable().describe('how long the oldest of them has waited; null when none waits'),
  dead_letters: Count.describe('events the database refused (hooksync integrations retry-failed applies them again)'),
  last_dead_letter_error: z.string().nullable(),
  last_dead_letter_at: Timestamp.nullable(),
}).strict();

export const RetryFailedIn = z
  .object({
    wait_seconds: z.number().int().min(0).max(RETRY_WAIT_MAX_SECONDS).default(30).describe('how long to wait for the outcome before answering'),
  })
  .strict();

export const RetryFailedBody = z
  .object({
    id: Id('svi'),
    requeued: Count.describe('dead letters put back into the inbox'),
    done: Count.describe('of those, applied (or discarded as older) before the answer'),
    failed_again: Count.describe('refused again: back in the dead letters, with their error'),
    waiting: Count.describe('still in the inbox when the wait ended'),
    woken: z.boolean().describe('whether the ingest workflows could be woken (if not, the worker\'s sweep takes the events within seconds)'),
  })
  .strict();

const Mode = z.enum(['interval', 'on_insert']);
const Unmatched = z.enum(['skip', 'tombstone']);
const Match = z
  .record(z.string(), z.unknown())
  .describe('only rows whose data contains this JSON object (jsonb containment, @>); null: every row');
const Fields = z
  .array(z.string())
  .describe('only these columns and RFC 6901 pointers into them (/data/x arrives as {"data": {"x": …}}; a missing one is left out); pk, the remote key, the version time and deleted always come; null: every column');
const UnmatchedHow = Unmatched.describe('a row that does not match: left out (skip), or sent as a key-only row with "hooksync_unmatched": true (tombstone)');
const FilterIn = {
  match: Match.nullable().optional().describe('only rows whose data contains this JSON object (jsonb containment, @>); null clears it'),
  fields: Fields.nullable().optional().describe('only these columns and RFC 6901 pointers (/data/x); an unknown column is refused; null clears them'),
  unmatched: UnmatchedHow.optional(),
};
const Url = z.string().min(1).describe('https://user:password@host/path: Basic Auth credentials in the user info');

export const TargetIn = z
  .object({
    integration_id: Id('svi'),
    url: Url,
    period_seconds: z.number().int().default(TARGET_DEFAULTS.periodSeconds),
    page_size: z.number().int().default(TARGET_DEFAULTS.pageSize),
    timeout_seconds: z.number().int().default(TARGET_DEFAULTS.timeoutSeconds),
    mode: Mode.default('interval'),
    ...FilterIn,
  })
  .strict();

export const TargetPatch = z
  .object({
    url: Url.optional(),
    period_seconds: z.number().int().optional(),
    page_size: z.number().int().optional(),
    timeout_seconds: z.number().int().optional(),
    mode: Mode.optional(),
    ...FilterIn,
  })
  .strict();

export const TargetListQuery = z.object({ integration_id: z.string().regex(ID_PATTERN, 'not an id (letters, digits, _ and -)').optional() }).strict();

export const Target = z
  .object({
    id: Id('hst'),
    integration_id: Id('svi'),
    integration_service: z.string(),
    table: z.string(),
    url: z.string().describe('masked: https://***:***@host/path'),
    period_seconds: z.number().int(),
    page_size: z.number().int(),
    timeout_seconds: z.number().int(),
    mode: Mode,
    paused: z.boolean(),
    match: Match.nullable(),
    fields: Fields.nullable(),
    unmatched: UnmatchedHow,
    created_at: Timestamp,
    workflow_id: z.string().describe('httpsync-<id>'),
  })
  .strict();

const SigningSecret = z.string().describe('Standard Webhooks secret (whsec_…) the POSTs to this target are signed with; shown only in this answer');

export const TargetCreated = Target.extend({ signing_secret: SigningSecret }).strict();

export const TargetSigningSecret = Target.extend({
  signing_secret: SigningSecret,
  previous_secret_expires_at: Timestamp.nullable().describe('until then the previous secret signs too (a second signature); null when there was none'),
}).strict();

const Cursor = z.object({ txid: z.string(), seq: z.string() }).strict();

export const TargetRestart = Target.extend({
  was: z.string().describe("Temporal's status of the workflow before: RUNNING (replaced), TERMINATED, FAILED, NOT_FOUND, …"),
  cursor: Cursor,
}).strict();

export const TargetResetIn = z.object({ from_start: z.literal(true).describe('deliver every row again from the beginning') }).strict();

export const TargetReset = Target.extend({
  reset_at: Timestamp,
  generation: Count,
  cursor: Cursor,
  workflow_told: z.boolean().describe('false when Temporal could not be reached: the workflow learns the reset at its next delivery'),
}).strict();

export const TargetList = z.object({ targets: z.array(Target) }).strict();

export const TargetProgressBody = z
  .object({
    id: Id('hst'),
    rows_delivered: Count.describe('as recorded page by page (ahead of the workflow\'s figures while a backlog drains)'),
    rows_waiting: Count.describe('rows after the cursor the database holds'),
  })
  .strict();

export const TargetInfoBody = Target.extend({
  state: z.enum(['waiting', 'delivering', 'retrying', 'paused', 'deleted', 'unknown', 'not_running']),
  workflow_status: z.string().nullable().describe("Temporal's status of the workflow (RUNNING, TERMINATED, NOT_FOUND, …); null when Temporal could not be asked"),
  cursor: z.object({ txid: z.string(), seq: z.string() }).strict(),
  filter_since: Cursor.nullable().describe('the cursor at which the filter (match, fields, unmatched) was last set: it applies to the rows after it; null when none was ever set'),
  rows_delivered: Count,
  pages_delivered: Count,
  syncs: Count.nullable(),
  avg_post_ms: z.number().nullable(),
  rows_per_minute: z.number().nullable(),
  error_count: Count,
  last_error: z.string().nullable(),
  last_error_at: Timestamp.nullable(),
  last_success_at: Timestamp.nullable(),
  next_sync_at: Timestamp.nullable(),
  retry: z.object({ since: Timestamp, attempts: Count, nextAttemptAt: Timestamp, error: z.string() }).strict().nullable().optional().describe('while retrying: since when, attempts, the next one'),
  retry_attempts: Count.describe('failed attempts in a row (0 once a page is answered 2xx)'),
  next_attempt_at: Timestamp.nullable(),
  rows_waiting: Count,
  rows_held_back: Count,
  lag_seconds: z.number().nullable(),
  resets: Count.describe('how often `httpsync reset` sent everything again'),
  reset_at: Timestamp.nullable(),
  restarts: Count.describe('how often the workflow was started again from the cursor PostgreSQL keeps'),
  restarted_at: Timestamp.nullable(),
  restart_reason: z.string().nullable(),
  warnings: z.array(z.string()),
  workflow_unreachable: z.string().optional().describe('why the live figures are missing, when the workflow could not be asked'),
}).strict();

/**
 * The answers are the service layer's views: every value of the view fits the schema, with the
 * same keys. A field added there and not here fails to compile.
 */
type Documents<Doc, View> = [View] extends [Doc] ? ([keyof Doc] extends [keyof View] ? ([keyof View] extends [keyof Doc] ? true : false) : false) : false;
true satisfies Documents<z.output<typeof Integration>, IntegrationView>;
true satisfies Documents<z.output<typeof IntegrationInfoBody>, IntegrationInfo>;
true satisfies Documents<z.output<typeof RetryFailedBody>, RetryFailedResult>;
true satisfies Documents<z.output<typeof TargetProgressBody>, TargetProgress>;
true satisfies Documents<z.output<typeof IntegrationDeleted>, DeletedIntegration>;
true satisfies Documents<z.output<typeof Target>, TargetView>;
true satisfies Documents<z.output<typeof TargetCreated>, CreatedTargetView>;
true satisfies Documents<z.output<typeof TargetSigningSecret>, RotatedSigningSecretView>;
true satisfies Documents<z.output<typeof TargetInfoBody>, TargetInfo>;
true satisfies Documents<z.output<typeof TargetRestart>, RestartView>;
true satisfies Documents<z.output<typeof TargetReset>, ResetView>;
