import { STATUS_CODES } from 'node:http';
import Router from '@koa/router';
import Koa, { type Context, type Next } from 'koa';
import { logger as defaultLogger, type Logger } from '../log';
import type { ServiceDeps } from '../services/deps';
import { ServiceError } from '../services/errors';
import { healthRoutes } from './health';
import { createIngest, type Ingest } from './ingest';
import { managementRoutes } from './management';
import { openApiRoute } from './openapi';
import { createRateLimiter } from './rate-limit';
import { headerLimit } from './request-guard';
import { mountRoutes, type AnyRouteSpec } from './routes';
import { webhookRoute } from './webhook-route';
import { mountWebhooks } from './webhooks';
import { isPgError, safeErrorText } from '../db/pg-error';

export interface AppDeps extends ServiceDeps {
  logger?: Logger;
}

/** Every route the API serves, as specs: the router and the OpenAPI document are built from them. */
export function apiRoutes(logger: Logger = defaultLogger): AnyRouteSpec[] {
  const routes: AnyRouteSpec[] = [...healthRoutes(logger), webhookRoute, ...managementRoutes];
  routes.push(openApiRoute(() => routes));
  return routes;
}

/** The app, and what its ingest must finish before the process ends (groups being written, wake-ups owed). */
export type HooksyncApp = Koa & { ingest: Ingest; router: Router };

/** The code of an error Koa, the router or a body check threw, by status, when it names none. */
const CODES: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  404: 'not_found',
  405: 'method_not_allowed',
  408: 'request_timeout',
  413: 'body_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
  431: 'headers_too_large',
};

/** One error shape for every answer that is not a success: {code, detail}. Only a bug is a 5xx (besides 503). */
function errorBodies(logger: Logger) {
  return async function errors(ctx: Context, next: Next) {
    try {
      await next();
    } catch (err) {
      if (err instanceof ServiceError) {
        ctx.status = err.status;
        ctx.body = { code: err.code, detail: err.message };
        return;
      }
      const e = err as { status?: number; expose?: boolean; code?: unknown; message?: string };
      if (e.status && e.status >= 400 && e.status < 500) {
        ctx.status = e.status;
        const code = typeof e.code === 'string' && /^[a-z][a-z0-9_]*$/.test(e.code) ? e.code : (CODES[e.status] ?? 'bad_request');
        ctx.body = { code, detail: e.expose !== false && e.message ? e.message : STATUS_CODES[e.status] };
        return;
      }
      logger.error({ err: isPgError(err) ? safeErrorText(err) : err, method: ctx.method, path: ctx.path }, 'request failed');
      ctx.status = 500;
      ctx.body = { code: 'internal', detail: 'internal error' };
    }
  };
}

/** No route answered: 405 with Allow when the path exists with other methods, 404 otherwise. */
function unmatched(router: Router) {
  return async function noRoute(ctx: Context) {
    const allowed = [...new Set(router.match(ctx.path, ctx.method).path.flatMap((layer) => layer.methods))];
    const where = ctx.path.length > 200 ? `${ctx.path.slice(0, 200)}…` : ctx.path;
    if (allowed.length > 0) {
      ctx.set('allow', allowed.join(', '));
      if (ctx.method === 'OPTIONS') {
        ctx.status = 204;
        return;
      }
      ctx.status = 405;
      ctx.body = { code: 'method_not_allowed', detail: `${ctx.method} is not allowed on ${where}; allowed: ${allowed.join(', ')}` };
      return;
    }
    ctx.status = 404;
    ctx.body = { code: 'not_found', detail: `no route for ${ctx.method} ${where} (the API is described at /v1/openapi.json)` };
  };
}

/** The router of every route: the rate limit, the webhook handler, and the route specs. */
function createRouter(deps: AppDeps, ingest: Ingest): Router {
  const logger = deps.logger ?? defaultLogger;
  const router = new Router();
  // Runs before the webhook handler on the same route: a request past its integration's limit stops here.
  router.post('/v1/webhooks/:integrationId', createRateLimiter(deps.pool).middleware);
  mountWebhooks(router, { pool: deps.pool, keyring: deps.keyring, inbox: ingest.inbox, logger });
  mountRoutes(router, apiRoutes(logger), deps);
  return router;
}

/** The Koa app: webhooks, the management API, health. Built from its dependencies, so tests can too. */
export function createApp(deps: AppDeps): HooksyncApp {
  const logger = deps.logger ?? defaultLogger;
  const app = new Koa();
  app.proxy = true;
  app.use(errorBodies(logger));
  app.use(headerLimit());
  const ingest = createIngest(deps, logger);
  const router = createRouter(deps, ingest);
  app.use(router.routes());
  app.use(unmatched(router));
  return Object.assign(app, { ingest, router });
}
