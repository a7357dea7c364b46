import { Client, Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor, type ConnectionOptions } from '@temporalio/client';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { SEARCH_ATTRIBUTES } from '../contract/names';
import type { TemporalAccess } from './access';

export const targetIdKey = defineSearchAttributeKey(SEARCH_ATTRIBUTES.targetId, SearchAttributeType.KEYWORD);
export const integrationIdKey = defineSearchAttributeKey(SEARCH_ATTRIBUTES.integrationId, SearchAttributeType.KEYWORD);

export interface TemporalHandle {
  client: Client;
  connection: Connection;
  close(): Promise<void>;
}

/**
 * A lazy connection: a process (the API above all) starts even while Temporal is down, and each
 * call fails fast instead, which the API turns into 503.
 */
export function connectTemporal(address: string, namespace: string, access: TemporalAccess = {}): TemporalHandle {
  const retries = new DeadlineAwareRetries();
  const connection = Connection.lazy({ address, tls: access.tls, apiKey: access.apiKey, interceptors: [retries.interceptor] });
  const client = new Client({ connection, namespace });
  return {
    client,
    connection,
    close: async () => {
      await retries.close();
      await connection.close();
    },
  };
}

type Interceptor = NonNullable<ConnectionOptions['interceptors']>[number];

/**
 * The SDK's default retries (UNAVAILABLE and the like, with back-off), except that they never sleep
 * past the call's deadline (the SDK's do: a 10 s deadline with Temporal down took up to 14.4 s),
 * and none is left armed when the connection closes: a retry firing on a closed connection throws
 * an uncaught "Channel has been shut down".
 */
class DeadlineAwareRetries {
  private readonly defaults = defaultGrpcRetryOptions();
  private closed = false;
  /** When the last armed retry fires. */
  private armedUntil = 0;

  readonly interceptor: Interceptor = (options, nextCall) => {
    const d = options.deadline;
    const deadline = d === undefined ? Infinity : d instanceof Date ? d.getTime() : d;
    let delay = 0;
    return makeGrpcRetryInterceptor({
      retryableDecider: (attempt, status) => {
        if (this.closed || !this.defaults.retryableDecider(attempt, status)) return false;
        delay = this.defaults.delayFunction(attempt, status);
        if (Date.now() + delay >= deadline) return false;
        this.armedUntil = Math.max(this.armedUntil, Date.now() + delay);
        return true;
      },
      delayFunction: () => delay,
    })(options, nextCall);
  };

  /** No new retry from now on; waits for the armed ones to have fired (timers fire in order of their time). */
  async close(): Promise<void> {
    this.closed = true;
    const wait = this.armedUntil - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait + 1));
  }
}

/**
 * Registers hooksync's Keyword search attributes on the namespace (idempotent). `dev` and the
 * tests start their dev server with them; this covers a server started without.
 */
export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<void> {
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
  const missing = Object.values(SEARCH_ATTRIBUTES).filter((name) => !(name in (customAttributes ?? {})));
  if (missing.length === 0) return;
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map((name) => [name, 2 /* INDEXED_VALUE_TYPE_KEYWORD */])),
  });
}
