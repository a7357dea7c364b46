import type { ServiceDeps } from '../services/deps';
import { createIntegration, integrationInfo, listIntegrations, updateIntegration } from '../services/integrations';
import { deleteIntegration } from '../services/integration-delete';
import { retryFailed } from '../services/integration-retry';
import { backfill } from './backfill-routes';
import { createTarget, deleteTarget, listTargetViews, updateTarget } from '../services/targets';
import { resetTarget, restartTarget } from '../services/target-restarts';
import { rotateSigningSecret } from '../services/target-secrets';
import { setPaused, triggerTarget } from '../services/target-signals';
import { targetInfo, targetProgress } from '../services/target-info';
import { type TargetView } from '../services/target-view';
import { testEvent } from './test-event-routes';
import { type FilterInput } from '../services/target-filter';
import { defineRoute, type AnyRouteSpec } from './routes';
import {
  IdParams,
  Integration,
  IntegrationDeleted,
  IntegrationIn,
  IntegrationInfoBody,
  IntegrationList,
  IntegrationPatch,
  RetryFailedBody,
  RetryFailedIn,
  Target,
  TargetCreated,
  TargetIn,
  TargetInfoBody,
  TargetList,
  TargetListQuery,
  TargetPatch,
  TargetProgressBody,
  TargetReset,
  TargetResetIn,
  TargetRestart,
  TargetSigningSecret,
} from './schemas';

/** A target's settings as the service layer takes them, from a body of the API. */
const settings = <
  B extends { url?: string; period_seconds?: number; page_size?: number; timeout_seconds?: number; mode?: TargetView['mode'] } & FilterInput,
>(
  b: B,
): { url: B['url']; periodSeconds: B['period_seconds']; pageSize: B['page_size']; timeoutSeconds: B['timeout_seconds']; mode: B['mode']; filter: FilterInput } => ({
  url: b.url,
  periodSeconds: b.period_seconds,
  pageSize: b.page_size,
  timeoutSeconds: b.timeout_seconds,
  mode: b.mode,
  filter: { match: b.match, fields: b.fields, unmatched: b.unmatched },
});

/** POST /v1/httpsync/{id}/<verb>: a signal to the target's workflow, answered with the target. */
const signalRoute = (operationId: string, verb: string, summary: string, run: (deps: ServiceDeps, id: string) => Promise<TargetView>) =>
  defineRoute({
    operationId,
    method: 'post',
    path: `/v1/httpsync/{id}/${verb}`,
    tag: 'httpsync',
    summary,
    auth: true,
    params: IdParams,
    responses: { 200: Target },
    errors: [409, 503],
    handle: ({ deps, params }) => run(deps, params.id),
  });

/**
 * The management API: the same service layer as the CLI, behind a bearer token. Keyed by
 * operation id, so clients (the CLI, through src/api/operations.ts) call an operation by its name
 * with its types: a route added here is served, documented and callable from the CLI at once.
 */
export const management = {
  listIntegrations: defineRoute({
    operationId: 'listIntegrations',
    method: 'get',
    path: '/v1/integrations',
    tag: 'integrations',
    summary: 'List integrations',
    auth: true,
    responses: { 200: IntegrationList },
    errors: [503],
    handle: async ({ deps }) => ({ integrations: await listIntegrations(deps) }),
  }),
  createIntegration: defineRoute({
    operationId: 'createIntegration',
    method: 'post',
    path: '/v1/integrations',
    tag: 'integrations',
    summary: 'Create an integration and its table',
    auth: true,
    body: IntegrationIn,
    responses: { 201: Integration },
    errors: [503],
    description:
      'standard_webhooks_v1 needs remote_key and timestamp (JSON pointers); hmac_v1 a preset or signature_header, remote_key and timestamp. Settings are checked before anything is created; other integrations take none.',
    handle: ({ deps, body: { service, webhook_secret, ...options } }) => createIntegration(deps, { service, webhookSecret: webhook_secret, options }),
  }),
  getIntegration: defineRoute({
    operationId: 'getIntegration',
    method: 'get',
    path: '/v1/integrations/{id}',
    tag: 'integrations',
    summary: 'One integration, with its inbox (events waiting, the age of the oldest) and its dead letters',
    auth: true,
    params: IdParams,
    responses: { 200: IntegrationInfoBody },
    errors: [503],
    handle: ({ deps, params }) => integrationInfo(deps, params.id),
  }),
  updateIntegration: defineRoute({
    operationId: 'updateIntegration',
    method: 'patch',
    path: '/v1/integrations/{id}',
    tag: 'integrations',
    summary: 'Set the webhook secret or the rate limit of an integration',
    description: 'A rate limit applies per API process and reaches every process within 5 s.',
    auth: true,
    params: IdParams,
    body: IntegrationPatch,
    responses: { 200: Integration },
    errors: [503],
    handle: ({ deps, params, body }) =>
      updateIntegration(deps, params.id, { webhookSecret: body.webhook_secret, rateLimitPerSecond: body.rate_limit_per_second }),
  }),
  deleteIntegration: defineRoute({
    operationId: 'deleteIntegration',
    method: 'delete',
    path: '/v1/integrations/{id}',
    tag: 'integrations',
    summary: 'Delete an integration with its targets, inbox and table',
    description:
      'Its running workflows (its targets\' and its ingest shards\', and a backfill) are terminated. 503 and nothing changed when Temporal cannot be reached. There is no undo: the table is dropped.',
    auth: true,
    params: IdParams,
    responses: { 200: IntegrationDeleted },
    errors: [503],
    handle: ({ deps, params }) => deleteIntegration(deps, params.id),
  }),
  listTargets: defineRoute({
    operationId: 'listTargets',
    method: 'get',
    path: '/v1/httpsync',
    tag: 'httpsync',
    summary: 'List HTTP Sync targets',
    auth: true,
    query: TargetListQuery,
    responses: { 200: TargetList },
    errors: [503],
    handle: async ({ deps, query }) => ({ targets: await listTargetViews(deps, query.integration_id) }),
  }),
  createTarget: defineRoute({
    operationId: 'createTarget',
    method: 'post',
    path: '/v1/httpsync',
    tag: 'httpsync',
    summary: 'Create an HTTP Sync target',
    description:
      'The URL must be https with Basic Auth credentials, reach a public address (or one HOOKSYNC_ALLOWED_TARGET_HOSTS lists: 422 target_refused otherwise) and answer a verification POST of an empty page with 2xx (422 verification_failed otherwise). ' +
      'The answer carries the target\'s signing secret (signing_secret), shown this once: every POST carries the Standard Webhooks headers webhook-id, webhook-timestamp and webhook-signature.',
    auth: true,
    body: TargetIn,
    responses: { 201: TargetCreated },
    errors: [422, 503],
    handle: ({ deps, body }) =>
      createTarget(deps, body.integration_id, settings(body)),
  }),
  getTarget: defineRoute({
    operationId: 'getTarget',
    method: 'get',
    path: '/v1/httpsync/{id}',
    tag: 'httpsync',
    summary: 'A target with its progress and backlog',
    auth: true,
    params: IdParams,
    responses: { 200: TargetInfoBody },
    errors: [503],
    handle: ({ deps, params }) => targetInfo(deps, params.id),
  }),
  updateTarget: defineRoute({
    operationId: 'updateTarget',
    method: 'patch',
    path: '/v1/httpsync/{id}',
    tag: 'httpsync',
    summary: 'Change a target; the running workflow takes it at once',
    description: 'A new URL is checked and verified as at creation.',
    auth: true,
    params: IdParams,
    body: TargetPatch,
    responses: { 200: Target },
    errors: [409, 422, 503],
    handle: ({ deps, params, body }) =>
      updateTarget(deps, params.id, settings(body)),
  }),
  deleteTarget: defineRoute({
    operationId: 'deleteTarget',
    method: 'delete',
    path: '/v1/httpsync/{id}',
    tag: 'httpsync',
    summary: 'Delete a target',
    description: 'No new POST is sent to it; one already in flight may still land.',
    auth: true,
    params: IdParams,
    responses: { 200: Target },
    errors: [503],
    handle: ({ deps, params }) => deleteTarget(deps, params.id),
  }),
  triggerTarget: signalRoute('triggerTarget', 'trigger', 'Sync now', triggerTarget),
  pauseTarget: signalRoute('pauseTarget', 'pause', 'Stop delivering until resumed', (deps, id) => setPaused(deps, id, true)),
  resumeTarget: signalRoute('resumeTarget', 'resume', 'Deliver again', (deps, id) => setPaused(deps, id, false)),
  restartTarget: defineRoute({
    operationId: 'restartTarget',
    method: 'post',
    path: '/v1/httpsync/{id}/restart',
    tag: 'httpsync',
    summary: 'Start the target\'s workflow again from the cursor PostgreSQL keeps',
    description:
      'Replaces a running workflow; starts one that was terminated, failed or never started. Nothing is skipped; a page whose 2xx was not yet recorded (or that was in flight) may be sent again, under the same id.',
    auth: true,
    params: IdParams,
    responses: { 200: TargetRestart },
    errors: [503],
    handle: ({ deps, params }) => restartTarget(deps, params.id),
  }),
  rotateSigningSecret: defineRoute({
    operationId: 'rotateSigningSecret',
    method: 'post',
    path: '/v1/httpsync/{id}/rotate-signing-secret',
    tag: 'httpsync',
    summary: 'Replace the target\'s signing secret',
    description:
      'The new secret (shown this once) signs every POST from now on; the previous one signs beside it (a second signature in webhook-signature) for 24 hours, then it is dropped.',
    auth: true,
    params: IdParams,
    responses: { 200: TargetSigningSecret },
    errors: [503],
    handle: ({ deps, params }) => rotateSigningSecret(deps, params.id),
  }),
  resetTarget: defineRoute({
    operationId: 'resetTarget',
    method: 'post',
    path: '/v1/httpsync/{id}/reset',
    tag: 'httpsync',
    summary: 'Deliver every row again from the beginning',
    auth: true,
    params: IdParams,
    body: TargetResetIn,
    responses: { 200: TargetReset },
    errors: [503],
    handle: ({ deps, params }) => resetTarget(deps, params.id),
  }),
  retryFailedIntegration: defineRoute({
    operationId: 'retryFailedIntegration',
    method: 'post',
    path: '/v1/integrations/{id}/retry-failed',
    tag: 'integrations',
    summary: 'Apply the dead letters of an integration again',
    description: 'They go back into the inbox and the ingest workflows are woken; answers once they are applied or refused again, or when wait_seconds have passed.',
    auth: true,
    params: IdParams,
    body: RetryFailedIn,
    responses: { 200: RetryFailedBody },
    errors: [503],
    handle: ({ deps, params, body }) => retryFailed(deps, params.id, { waitMs: body.wait_seconds * 1000 }),
  }),
  getTargetProgress: defineRoute({
    operationId: 'getTargetProgress',
    method: 'get',
    path: '/v1/httpsync/{id}/progress',
    tag: 'httpsync',
    summary: 'Rows delivered and waiting, as the database records them page by page',
    description: 'Fresher than the target\'s own figures while a backlog drains (what `hooksync httpsync status --watch` draws its bar from).',
    auth: true,
    params: IdParams,
    responses: { 200: TargetProgressBody },
    errors: [503],
    handle: ({ deps, params }) => targetProgress(deps, params.id),
  }),
  ...backfill,
  ...testEvent,
};

/** Each key is its operation's id (clients call operations by these names). */
for (const [key, spec] of Object.entries(management)) if (key !== spec.operationId) throw new Error(`management.${key} has operationId ${spec.operationId}`);

export const managementRoutes: AnyRouteSpec[] = Object.values(management);
