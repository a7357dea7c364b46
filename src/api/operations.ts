import type { z } from 'zod';
import type { ServiceDeps } from '../services/deps';
import { management } from './management';
import { invoke, type RouteSpec } from './routes';

/**
 * The management API's operations as a client sees them: by operation id, with the input a request
 * carries (path parameters, query, body, as the route's schemas take them) and the answer's type.
 * Two implementations: `localServices` runs the route's handler in this process (with a database
 * and Temporal), `remoteServices` (src/api/client.ts) sends the request to a running API. The CLI
 * talks to either through `Services`, so it behaves the same both ways, and a route added to
 * src/api/management.ts is callable at once.
 */

type Operations = typeof management;
export type OperationId = keyof Operations;

type Part<K extends string, S> = S extends z.ZodType ? (undefined extends z.input<S> ? { [k in K]?: z.input<S> } : { [k in K]: z.input<S> }) : { [k in K]?: never };

export type OperationInput<K extends OperationId> =
  Operations[K] extends RouteSpec<infer P, infer Q, infer B, any> ? Part<'params', P> & Part<'query', Q> & Part<'body', B> : never;

export type OperationOutput<K extends OperationId> = Operations[K] extends RouteSpec<any, any, any, infer R> ? Awaited<R> : never;

/** The input of an operation, left out where it may be empty. */
export type InputArgs<K extends OperationId> = {} extends OperationInput<K> ? [input?: OperationInput<K>] : [input: OperationInput<K>];

export interface Services {
  /** Where the operations run, for messages: "the database" or the API's URL. */
  readonly where: string;
  call<K extends OperationId>(operation: K, ...input: InputArgs<K>): Promise<OperationOutput<K>>;
  close(): Promise<void>;
}

export const operationSpec = (operation: OperationId) => management[operation];

/**
 * Runs operations in this process. `open` is called at the first call only (a command that fails
 * before needing data opens no connection), and what it opened is closed by `close`.
 */
export function localServices(open: () => Promise<{ deps: ServiceDeps; close(): Promise<void> }>): Services {
  let opened: ReturnType<typeof open> | undefined;
  return {
    where: 'the database',
    async call(operation, ...[input]) {
      opened ??= open();
      return (await invoke(operationSpec(operation), (await opened).deps, input ?? {})) as never;
    },
    async close() {
      // An open that failed closed what it had opened itself.
      const o = await opened?.catch(() => undefined);
      await o?.close();
    },
  };
}
