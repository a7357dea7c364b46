import { STATUS_CODES } from 'node:http';
import { z } from 'zod';
import { errorStatuses, type AnyRouteSpec } from './routes';
import { ErrorBody, Integration, Target, TargetInfoBody } from './schemas';

/** The OpenAPI 3.1 document of the API, generated from the route specs and their zod schemas. */

type Json = Record<string, unknown>;
const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });
const pascal = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** Names for the shapes several routes share; the others are named after their operation. */
const SHARED: Array<[z.ZodType, string]> = [
  [ErrorBody, 'Error'],
  [Integration, 'Integration'],
  [Target, 'Target'],
  [TargetInfoBody, 'TargetInfo'],
];

function withoutMeta(schema: Json): Json {
  const { $schema: _s, $id: _i, ...rest } = schema;
  return rest;
}

function packageVersion(): string {
  try {
    return (require('../../package.json') as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

export function openApiDocument(specs: AnyRouteSpec[]): Json {
  const inputs = z.registry<{ id: string }>();
  const outputs = z.registry<{ id: string }>();
  for (const [schema, id] of SHARED) outputs.add(schema, { id });
  const idOf = (registry: typeof inputs, schema: z.ZodType, fallback: string) => {
    if (!registry.has(schema)) registry.add(schema, { id: fallback });
    return registry.get(schema)!.id;
  };

  const paths: Record<string, Record<string, Json>> = {};
  for (const spec of specs) {
    const parameters = [
      ...Object.entries((spec.params?.shape ?? {}) as Record<string, z.ZodType>).map(([name, s]) => ({ name, in: 'path', required: true, schema: s })),
      ...Object.entries((spec.query?.shape ?? {}) as Record<string, z.ZodType>).map(([name, s]) => ({ name, in: 'query', required: !s.safeParse(undefined).success, schema: s })),
    ].map((p) => ({ ...p, ...(p.schema.description ? { description: p.schema.description } : {}), schema: withoutMeta(z.toJSONSchema(p.schema, { io: 'input' }) as Json) }));
    for (const [name, h] of Object.entries(spec.headers ?? {})) parameters.push({ name, in: 'header', required: h.required, description: h.description, schema: { type: 'string' } });

    const responses: Record<string, Json> = {};
    const statuses = Object.keys(spec.responses).map(Number);
    for (const status of statuses) {
      const id = idOf(outputs, spec.responses[status]!, `${pascal(spec.operationId)}${status === statuses[0] ? '' : status}Response`);
      responses[status] = { description: STATUS_CODES[status] ?? String(status), content: { 'application/json': { schema: ref(id) } } };
    }
    for (const status of errorStatuses(spec)) {
      responses[status] = { description: STATUS_CODES[status] ?? String(status), content: { 'application/json': { schema: ref('Error') } } };
    }
    // Any other error (405 for another method, 408, 431, 5xx) has the same shape.
    responses.default = { description: 'an error', content: { 'application/json': { schema: ref('Error') } } };

    const operation: Json = {
      operationId: spec.operationId,
      summary: spec.summary,
      ...(spec.description ? { description: spec.description } : {}),
      tags: [spec.tag],
      security: spec.auth ? [{ bearer: [] }] : [],
      ...(parameters.length ? { parameters } : {}),
      ...(spec.body
        ? { requestBody: { required: true, content: { 'application/json': { schema: ref(idOf(inputs, spec.body, `${pascal(spec.operationId)}Request`)) } } } }
        : {}),
      responses,
    };
    (paths[spec.path] ??= {})[spec.method] = operation;
  }

  const uri = (id: string) => `#/components/schemas/${id}`;
  const schemas = Object.fromEntries(
    [...Object.entries(z.toJSONSchema(outputs, { io: 'output', uri }).schemas), ...Object.entries(z.toJSONSchema(inputs, { io: 'input', uri }).schemas)].map(
      ([id, s]) => [id, withoutMeta(s as Json)],
    ),
  );
  return {
    openapi: '3.1.0',
    info: {
      title: 'hooksync API',
      version: packageVersion(),
      description:
        'Webhooks in, HTTP Sync targets managed. Every error is {"code", "detail"}. The management API (tags integrations and httpsync) ' +
        'needs "Authorization: Bearer <token>", a token of HOOKSYNC_API_TOKEN; without that variable it answers 404 management_disabled.',
    },
    servers: [{ url: '/' }],
    tags: [
      { name: 'webhooks', description: 'events from upstreams' },
      { name: 'integrations', description: 'upstream resources and their tables' },
      { name: 'httpsync', description: 'targets rows are delivered to' },
      { name: 'health', description: 'probes' },
      { name: 'meta', description: 'this document' },
    ],
    paths,
    components: { schemas, securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
  };
}

/** GET /v1/openapi.json, without a token: it describes the API, it holds nothing of an installation. */
export function openApiRoute(all: () => AnyRouteSpec[]): AnyRouteSpec {
  let doc: Json | undefined;
  return {
    operationId: 'openapi',
    method: 'get',
    path: '/v1/openapi.json',
    tag: 'meta',
    summary: 'This OpenAPI 3.1 document',
    auth: false,
    responses: { 200: z.object({ openapi: z.literal('3.1.0'), info: z.object({ title: z.string(), version: z.string() }).loose(), paths: z.record(z.string(), z.unknown()) }).loose() },
    handle: () => (doc ??= openApiDocument(all())),
  };
}
