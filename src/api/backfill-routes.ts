import { backfillStatus, startBackfill } from '../services/backfill';
import { Backfill, BackfillIn, BackfillStarted } from './backfill-schemas';
import { defineRoute } from './routes';
import { IdParams } from './schemas';

/** Backfills through the management API: the same service layer as `hooksync integrations backfill`. */
export const backfill = {
  startBackfill: defineRoute({
    operationId: 'startBackfill',
    method: 'post',
    path: '/v1/integrations/{id}/backfill',
    tag: 'integrations',
    summary: "Start a backfill: list the upstream's resources into the integration's table",
    description:
      'Starts the workflow backfill-<id> (202). While one runs, nothing new is started: 200 with started=false and its state. ' +
      'The API base is checked like target URLs (422 target_refused for an address hooksync may not reach).',
    auth: true,
    params: IdParams,
    body: BackfillIn,
    // Integer keys sort ascending: 200 is the default, and a start says 202 itself.
    responses: { 200: BackfillStarted, 202: BackfillStarted },
    errors: [422, 503],
    handle: async ({ deps, params, body, setStatus }) => {
      const r = await startBackfill(deps, params.id, { apiKey: body.api_key, apiBase: body.api_base });
      setStatus(r.started ? 202 : 200);
      return r;
    },
  }),
  getBackfill: defineRoute({
    operationId: 'getBackfill',
    method: 'get',
    path: '/v1/integrations/{id}/backfill',
    tag: 'integrations',
    summary: "The integration's last backfill: state, pages and rows, times",
    auth: true,
    params: IdParams,
    responses: { 200: Backfill },
    errors: [503],
    handle: ({ deps, params }) => backfillStatus(deps, params.id),
  }),
};
