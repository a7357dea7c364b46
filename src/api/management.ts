import { timingSafeEqual } from 'node:crypto';
import type Router from '@koa/router';
import type { Context, Next } from 'koa';
import { z } from 'zod';
import type { ServiceDeps } from '../services/deps';
import { ServiceError } from '../services/errors';
import { createIntegration, getIntegration, listIntegrations, updateIntegration } from '../services/integrations';
import {
  createTarget,
  deleteTarget,
  listTargetViews,
  setPaused,
  TARGET_DEFAULTS,
  targetInfo,
  triggerTarget,
  updateTarget,
} from '../services/targets';
import { readRawBody } from './raw-body';

const IntegrationIn = z.object({ service: z.string().min(1), webhook_secret: z.string().min(1).optional() }).strict();
const IntegrationPatch = z.object({ webhook_secret: z.string().min(1) }).strict();
const Mode = z.enum(['interval', 'on_insert']);
const TargetIn = z
  .object({
    integration_id: z.string().min(1),
    url: z.string().min(1),
    period_seconds: z.number().int().default(TARGET_DEFAULTS.periodSeconds),
    page_size: z.number().int().default(TARGET_DEFAULTS.pageSize),
    timeout_seconds: z.number().int().default(TARGET_DEFAULTS.timeoutSeconds),
    mode: Mode.default('interval'),
  })
  .strict();
const TargetPatch = z
  .object({
    url: z.string().min(1).optional(),
    period_seconds: z.number().int().optional(),
    page_size: z.number().int().optional(),
    timeout_seconds: z.number().int().optional(),
    mode: Mode.optional(),
  })
  .strict();

async function jsonBody<T>(ctx: Context, schema: z.ZodType<T>): Promise<T> {
  const raw = await readRawBody(ctx);
  let value: unknown;
  try {
    value = raw.length ? JSON.parse(raw.toString('utf8')) : {};
  } catch {
    throw new ServiceError('invalid', 'the body is not valid JSON');
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new ServiceError('invalid', parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
  }
  return parsed.data;
}

function requireToken(token: string | undefined) {
  const expected = token ? Buffer.from(`Bearer ${token}`) : undefined;
  return async function managementAuth(ctx: Context, next: Next) {
    if (!expected) {
      ctx.status = 404;
      ctx.body = { code: 'management_disabled', detail: 'the management API is off: start the API with HOOKSYNC_API_TOKEN set' };
      return;
    }
    const given = Buffer.from(ctx.get('authorization'));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      ctx.status = 401;
      ctx.body = { code: 'unauthorized', detail: 'a valid "Authorization: Bearer <HOOKSYNC_API_TOKEN>" header is required' };
      return;
    }
    await next();
  };
}

/** The management API: the same service layer as the CLI, behind a bearer token. */
export function mountManagement(router: Router, deps: ServiceDeps): void {
  const auth = requireToken(deps.config.HOOKSYNC_API_TOKEN);
  const id = (ctx: Context) => (ctx as Context & { params: Record<string, string> }).params.id!;

  router.get('/v1/integrations', auth, async (ctx) => {
    ctx.body = { integrations: await listIntegrations(deps) };
  });
  router.post('/v1/integrations', auth, async (ctx) => {
    const body = await jsonBody(ctx, IntegrationIn);
    ctx.status = 201;
    ctx.body = await createIntegration(deps, { service: body.service, webhookSecret: body.webhook_secret });
  });
  router.get('/v1/integrations/:id', auth, async (ctx) => {
    ctx.body = await getIntegration(deps, id(ctx));
  });
  router.patch('/v1/integrations/:id', auth, async (ctx) => {
    const body = await jsonBody(ctx, IntegrationPatch);
    ctx.body = await updateIntegration(deps, id(ctx), { webhookSecret: body.webhook_secret });
  });

  router.get('/v1/httpsync', auth, async (ctx) => {
    const integrationId = typeof ctx.query.integration_id === 'string' ? ctx.query.integration_id : undefined;
    ctx.body = { targets: await listTargetViews(deps, integrationId) };
  });
  router.post('/v1/httpsync', auth, async (ctx) => {
    const b = await jsonBody(ctx, TargetIn);
    ctx.status = 201;
    ctx.body = await createTarget(deps, b.integration_id, {
      url: b.url,
      periodSeconds: b.period_seconds,
      pageSize: b.page_size,
      timeoutSeconds: b.timeout_seconds,
      mode: b.mode,
    });
  });
  router.get('/v1/httpsync/:id', auth, async (ctx) => {
    ctx.body = await targetInfo(deps, id(ctx));
  });
  router.patch('/v1/httpsync/:id', auth, async (ctx) => {
    const b = await jsonBody(ctx, TargetPatch);
    ctx.body = await updateTarget(deps, id(ctx), {
      url: b.url,
      periodSeconds: b.period_seconds,
      pageSize: b.page_size,
      timeoutSeconds: b.timeout_seconds,
      mode: b.mode,
    });
  });
  router.post('/v1/httpsync/:id/trigger', auth, async (ctx) => {
    ctx.body = await triggerTarget(deps, id(ctx));
  });
  router.post('/v1/httpsync/:id/pause', auth, async (ctx) => {
    ctx.body = await setPaused(deps, id(ctx), true);
  });
  router.post('/v1/httpsync/:id/resume', auth, async (ctx) => {
    ctx.body = await setPaused(deps, id(ctx), false);
  });
  router.delete('/v1/httpsync/:id', auth, async (ctx) => {
    ctx.body = await deleteTarget(deps, id(ctx));
  });
}
