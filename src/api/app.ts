import Router from '@koa/router';
import Koa from 'koa';
import { logger as defaultLogger, type Logger } from '../log';
import type { ServiceDeps } from '../services/deps';
import { ServiceError } from '../services/errors';
import { mountHealth } from './health';
import { createIngest, type Ingest } from './ingest';
import { mountManagement } from './management';
import { mountWebhooks } from './webhooks';

export interface AppDeps extends ServiceDeps {
  logger?: Logger;
}

/** The app, and what its ingest must finish before the process ends (groups being written, wake-ups owed). */
export type HooksyncApp = Koa & { ingest: Ingest };

/** The Koa app: webhooks, the management API, health and metrics. Built from its dependencies, so tests can too. */
export function createApp(deps: AppDeps): HooksyncApp {
  const logger = deps.logger ?? defaultLogger;
  const app = new Koa();
  app.proxy = true;

  // One error shape for every route: {code, detail}.
  app.use(async function errors(ctx, next) {
    try {
      await next();
    } catch (err) {
      if (err instanceof ServiceError) {
        ctx.status = err.status;
        ctx.body = { code: err.code, detail: err.message };
        return;
      }
      const e = err as { status?: number; expose?: boolean; code?: string; message?: string };
      if (e.status && e.expose) {
        ctx.status = e.status;
        ctx.body = { code: e.code ?? 'bad_request', detail: e.message };
        return;
      }
      logger.error({ err, path: ctx.path }, 'request failed');
      ctx.status = 500;
      ctx.body = { code: 'internal', detail: 'internal error' };
    }
  });

  const ingest = createIngest(deps, logger);
  const router = new Router();
  mountWebhooks(router, { pool: deps.pool, inbox: ingest.inbox, logger });
  mountManagement(router, deps);
  mountHealth(router, deps);
  app.use(router.routes());
  app.use(router.allowedMethods());
  return Object.assign(app, { ingest });
}
