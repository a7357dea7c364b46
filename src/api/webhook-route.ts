import { z } from 'zod';
import { defineRoute } from './routes';

/**
 * The ingest endpoint as the OpenAPI document describes it. Its handler (src/api/webhooks.ts)
 * mounts itself: it reads the raw bytes for the signature check, not a parsed body.
 */
export const webhookRoute = defineRoute({
  operationId: 'receiveWebhook',
  method: 'post',
  path: '/v1/webhooks/{integrationId}',
  tag: 'webhooks',
  summary: 'An upstream event (e.g. from Stripe), verified by its signature over the exact bytes',
  description:
    '200 once the event is durably accepted (or acknowledged and ignored: an event type the integration does not use). ' +
    'The body is JSON in UTF-8, at most 1 MiB, nested at most 64 levels. Past the integration\'s rate limit: 429 with Retry-After, before the body is read.',
  auth: false,
  params: z.object({ integrationId: z.string().min(1).describe('svi_…') }).strict(),
  headers: { 'Stripe-Signature': { description: 'for Stripe integrations: the signature Stripe sends', required: false } },
  body: z.record(z.string(), z.unknown()).describe('the upstream event, as the upstream sent and signed it'),
  responses: {
    200: z
      .object({ received: z.literal(true), ignored: z.string().optional().describe('why the event was acknowledged without being used') })
      .describe('may carry more keys'),
  },
  errors: [400, 401, 404, 413, 415, 429, 503],
});
