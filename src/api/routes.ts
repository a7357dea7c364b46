import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { ServiceDeps } from '../services/deps';
import { ServiceError } from '../services/errors';
import { requireToken } from './auth';
import { readRawBody } from './raw-body';

/**
 * A route of the API as data: method, path, the zod schemas of its parameters, body and answers,
 * and its handler. The router is built from these specs and so is the OpenAPI document
 * (src/api/openapi.ts), so what is documented is what is served and validated. A new route is one
 * more spec in a table.
 */

export type Method = 'get' | 'post' | 'patch' | 'delete';
type Obj = z.ZodObject;
type Schema = z.ZodType;

export interface RouteInput<P extends Obj | undefined, Q extends Obj | undefined, B extends Schema | undefined> {
  deps: ServiceDeps;
  params: P extends Obj ? z.output<P> : Record<string, never>;
  query: Q extends Obj ? z.output<Q> : Record<string, never>;
  body: B extends Schema ? z.output<B> : undefined;
  /** For a handler that answers with another documented status than its first. */
  setStatus(status: number): void;
  setHeader(name: string, value: string): void;
}

export interface RouteSpec<
  P extends Obj | undefined = Obj | undefined,
  Q extends Obj | undefined = Obj | undefined,
  B extends Schema | undefined = Schema | undefined,
  R = unknown,
> {
  operationId: string;
  method: Method;
  /** OpenAPI form: /v1/httpsync/{id}. */
  path: string;
  summary: string;
  description?: string;
  tag: string;
  /** Behind the management API's bearer token. */
  auth: boolean;
  params?: P;
  query?: Q;
  /** A JSON request body. */
  body?: B;
  /** Header parameters, documented only (e.g. a webhook's signature header). */
  headers?: Record<string, { description: string; required: boolean }>;
  /** Status → body schema, the first one the default answer. */
  responses: Record<number, Schema>;
  /** Error statuses this route answers with `{code, detail}`, beyond those every route of its kind has. */
  errors?: number[];
  /** Served elsewhere (the webhook handler mounts itself); the spec documents it. */
  handle?: (input: RouteInput<P, Q, B>) => Promise<R> | R;
}

export type AnyRouteSpec = RouteSpec<any, any, any, any>;

/** Keeps each spec's types (params, query, body, answer) for its handler and for clients (src/api/operations.ts). */
export const defineRoute = <P extends Obj | undefined = undefined, Q extends Obj | undefined = undefined, B extends Schema | undefined = undefined, R = unknown>(
  spec: RouteSpec<P, Q, B, R>,
): RouteSpec<P, Q, B, R> => spec;

/** Koa-router form of an OpenAPI path: /v1/httpsync/{id} → /v1/httpsync/:id. */
export const routerPath = (path: string) => path.replace(/\{(\w+)\}/g, ':$1');

/** Every error status a route may answer with `{code, detail}`. */
export function errorStatuses(spec: AnyRouteSpec): number[] {
  // The request guard answers these on any route: a malformed request, one too slow to arrive, too many or too large headers.
  const s = new Set([...(spec.errors ?? []), 400, 408, 431]);
  if (spec.auth) [401, 404].forEach((n) => s.add(n));
  if (spec.body) [400, 413, 415].forEach((n) => s.add(n));
  if (spec.params || spec.query) s.add(400);
  return [...s].sort((a, b) => a - b);
}

function invalid(where: string, error: z.ZodError): ServiceError {
  return new ServiceError('invalid', error.issues.map((i) => `${[where, ...i.path].join('.')}: ${i.message}`).join('; '));
}

/** The body as JSON; its shape is checked by `invoke`. */
async function jsonBody(ctx: Context): Promise<unknown> {
  const raw = await readRawBody(ctx);
  try {
    return raw.length ? JSON.parse(raw.toString('utf8')) : {};
  } catch {
    throw new ServiceError('invalid', 'the body is not valid JSON');
  }
}

function parse(where: string, schema: Schema | undefined, value: unknown): any {
  if (!schema) return where === 'body' ? undefined : {};
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw invalid(where, parsed.error);
  return parsed.data;
}

/** What a route is called with, before its schemas have checked it. */
export interface RawInput {
  params?: unknown;
  query?: unknown;
  body?: unknown;
}

export interface Answer {
  status?: number;
  headers: Record<string, string>;
}

/**
 * Checks the input with the spec's own schemas and runs its handler: the router does this for a
 * request, the CLI's local services (src/api/operations.ts) for a command, so both refuse the same.
 */
export async function invoke(spec: AnyRouteSpec, deps: ServiceDeps, raw: RawInput, answer: Answer = { headers: {} }): Promise<unknown> {
  if (!spec.handle) throw new Error(`${spec.operationId} has no handler`);
  return spec.handle({
    deps,
    params: parse('path', spec.params, raw.params ?? {}),
    query: parse('query', spec.query, raw.query ?? {}),
    body: parse('body', spec.body, raw.body ?? {}),
    setStatus: (s: number) => (answer.status = s),
    setHeader: (name: string, value: string) => (answer.headers[name] = value),
  });
}

/** Mounts the specs that have a handler; each validates its input with the spec's own schemas. */
export function mountRoutes(router: Router, specs: AnyRouteSpec[], deps: ServiceDeps): void {
  const auth = requireToken(deps.config.HOOKSYNC_API_TOKEN);
  for (const spec of specs) {
    if (!spec.handle) continue;
    const [status] = Object.keys(spec.responses).map(Number);
    const run = async (ctx: Context) => {
      const answer: Answer = { headers: {} };
      const params = (ctx as Context & { params: Record<string, string> }).params;
      const body = await invoke(spec, deps, { params, query: ctx.query, body: spec.body ? await jsonBody(ctx) : undefined }, answer);
      ctx.set(answer.headers);
      ctx.status = answer.status ?? status!;
      ctx.body = body;
    };
    const middleware = spec.auth ? [auth, run] : [run];
    router[spec.method](spec.operationId, routerPath(spec.path), ...middleware);
  }
}
