import { z } from 'zod';
import { buildTestEvent, type TestEventView } from '../services/test-event';
import { defineRoute } from './routes';
import { IdParams } from './schemas';

/** A signed sample event through the management API (`hooksync integrations send-test-event`, also against a remote API). */

export const TestEventIn = z
  .object({
    key: z.string().min(1).max(200).optional().describe("the resource's remote key (default: test_<resource>)"),
    deleted: z.boolean().default(false).describe('an event that deletes the resource'),
  })
  .strict();

export const TestEventBody = z
  .object({
    id: z.string(),
    service: z.string(),
    key: z.string().describe('the remote key the event carries'),
    webhook_path: z.string().describe("where to POST it, relative to the API's base URL"),
    body: z.string().describe('the request body, to send byte for byte'),
    headers: z.record(z.string(), z.string()).describe('the request headers, the signature among them'),
  })
  .strict();

true satisfies [TestEventView] extends [z.output<typeof TestEventBody>] ? true : false;

export const testEvent = {
  buildTestEvent: defineRoute({
    operationId: 'buildTestEvent',
    method: 'post',
    path: '/v1/integrations/{id}/test-event',
    tag: 'integrations',
    summary: "A sample event of the integration's upstream, signed with its webhook secret, to POST to its webhook endpoint",
    description:
      'Nothing is sent or stored: the caller POSTs `body` with `headers` to `webhook_path`. Its version time is now, or a second after the newest version held of the resource, so that it changes the row. 409 when the integration has no webhook secret.',
    auth: true,
    params: IdParams,
    body: TestEventIn,
    responses: { 200: TestEventBody },
    errors: [409, 503],
    handle: ({ deps, params, body }) => buildTestEvent(deps, params.id, { key: body.key, deleted: body.deleted }),
  }),
};
