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
  summary: 'An upstream event (Stripe, GitHub, any Standard Webhooks or HMAC sender), verified by its signature over the exact bytes',
  description:
    '200 once the event is durably accepted (or acknowledged and ignored: an event type the integration does not use). ' +
    'The body is JSON in UTF-8, at most 1 MiB, nested at most 64 levels. Past the integration\'s rate limit: 429 with Retry-After, before the body is read.',
  auth: false,
  params: z.object({ integrationId: z.string().min(1).describe('svi_…') }).strict(),
  headers: {
    'Stripe-Signature': { description: 'stripe_customer_v1: the signature Stripe sends', required: false },
    'X-Hub-Signature-256': { description: 'github_issue_v1: sha256=<hex HMAC-SHA256 of the body>, as GitHub signs', required: false },
    'X-GitHub-Event': { description: 'github_issue_v1: the event name; only `issues` is used, others (e.g. `ping`) are acknowledged and ignored', required: false },
    'webhook-id': { description: 'standard_webhooks_v1: the message id (a redelivery repeats it and is applied once)', required: false },
    'webhook-timestamp': { description: 'standard_webhooks_v1: Unix seconds; more than 5 minutes away from now is refused (401)', required: false },
    'webhook-signature': { description: 'standard_webhooks_v1: v1,<base64 HMAC-SHA256 of "id.timestamp.body">', required: false },
    'X-Shopify-Hmac-Sha256': { description: 'hmac_v1 (any header its settings name; e.g. the shopify preset\'s): the HMAC of the signed payload', required: false },
  },
  body: z.record(z.string(), z.unknown()).describe('the upstream event, as the upstream sent and signed it'),
  responses: {
    200: z
      .object({ received: z.literal(true), ignored: z.string().optional().describe('why the event was acknowledged without being used') })
      .describe('may carry more keys'),
  },
  errors: [400, 401, 404, 413, 415, 429, 503],
});
