import { z } from 'zod';
import { ping } from '../db/pool';
import type { Logger } from '../log';
import type { ServiceDeps } from '../services/deps';
import { within } from './backlog-metrics';
import { defineRoute, type AnyRouteSpec } from './routes';

/** How long /readyz waits for each dependency: well within a load balancer's probe timeout. */
const READY_TIMEOUT_MS = 2_000;
/** A failing dependency is logged again at most this often while it stays the same. */
const RELOG_MS = 60_000;

/** The first line of an error, without gRPC's or pg's long tails. */
const reason = (err: unknown) => String((err as Error)?.message ?? err).split('\n')[0]!.slice(0, 300);

const Check = z.enum(['ok', 'failed']);
const Ready = z.object({ status: z.enum(['ready', 'degraded', 'unavailable']), checks: z.object({ postgres: Check, temporal: Check }).strict() }).strict();

/**
 * /readyz answers whether PostgreSQL and Temporal answer, never why not: error text can carry
 * host names and more, and the probe is often public. The reasons go to the log instead.
 */
function readiness(logger: Logger) {
  let lastLogged = { text: '', at: 0 };
  return async (deps: ServiceDeps) => {
    const [db, temporal] = await Promise.allSettled([
      within(READY_TIMEOUT_MS, ping(deps.pool)),
      // A deadline on the call itself, so an unreachable server leaves no retrying call behind.
      within(
        READY_TIMEOUT_MS + 500,
        deps.temporal.connection.withDeadline(Date.now() + READY_TIMEOUT_MS, () => deps.temporal.connection.workflowService.getSystemInfo({})),
      ),
    ]);
    const failures = {
      ...(db.status === 'rejected' ? { postgres: reason(db.reason) } : {}),
      ...(temporal.status === 'rejected' ? { temporal: reason(temporal.reason) } : {}),
    };
    const text = JSON.stringify(failures);
    if (text !== '{}' && (text !== lastLogged.text || Date.now() - lastLogged.at > RELOG_MS)) {
      logger.warn({ failures }, 'not ready');
      lastLogged = { text, at: Date.now() };
    } else if (text === '{}' && lastLogged.text) {
      logger.info('ready again');
      lastLogged = { text: '', at: 0 };
    }
    return {
      // Webhooks need only PostgreSQL (the inbox); Temporal's absence delays applies, loses nothing.
      ready: db.status === 'fulfilled',
      degraded: temporal.status === 'rejected',
      checks: { postgres: db.status === 'fulfilled' ? 'ok' : 'failed', temporal: temporal.status === 'fulfilled' ? 'ok' : 'failed' } as const,
    };
  };
}

/** /healthz: the process answers. /readyz: PostgreSQL answers (and whether Temporal does). (/metrics is on its own port: src/metrics-server.ts.) */
export function healthRoutes(logger: Logger): AnyRouteSpec[] {
  const check = readiness(logger);
  return [
    defineRoute({
      operationId: 'healthz',
      method: 'get',
      path: '/healthz',
      tag: 'health',
      summary: 'Liveness: the process answers',
      auth: false,
      responses: { 200: z.object({ status: z.literal('ok') }).strict() },
      handle: () => ({ status: 'ok' }),
    }),
    defineRoute({
      operationId: 'readyz',
      method: 'get',
      path: '/readyz',
      tag: 'health',
      summary: 'Readiness: 200 when PostgreSQL answers (status degraded while Temporal does not), 503 otherwise (the reasons are logged)',
      description: 'Webhooks are accepted into the inbox with PostgreSQL alone; without Temporal they are applied once it is back.',
      auth: false,
      responses: { 200: Ready, 503: Ready },
      handle: async ({ deps, setStatus, setHeader }) => {
        const { ready, degraded, checks } = await check(deps);
        setHeader('cache-control', 'no-store');
        setStatus(ready ? 200 : 503);
        return { status: !ready ? 'unavailable' : degraded ? 'degraded' : 'ready', checks };
      },
    }),
  ];
}
