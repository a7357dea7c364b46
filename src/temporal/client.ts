import { Client, Connection } from '@temporalio/client';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { SEARCH_ATTRIBUTES } from '../workflows/names';

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
export function connectTemporal(address: string, namespace: string): TemporalHandle {
  const connection = Connection.lazy({ address });
  const client = new Client({ connection, namespace });
  return { client, connection, close: () => connection.close() };
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
