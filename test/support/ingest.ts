import net from 'node:net';
import type { Client, WorkflowExecutionInfo, WorkflowHandle } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import type pg from 'pg';
import { Pool } from 'undici';
import { shardOf } from '../../src/api/ingest-batcher';
import { ingestWorkflowId } from '../../src/workflows/names';
import { stripeSignature } from './stripe';

/** Helpers for the ingest tests (test/ingest*.test.ts). */

/** A small seeded PRNG (mulberry32), so a shuffled order is reproducible from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffle<T>(items: T[], seed: number): T[] {
  const out = [...items];
  const rand = prng(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** `n` customer ids (cus_<prefix>…) whose events all land in `shard`. */
export function keysInShard(prefix: string, shard: number, shards: number, n: number): string[] {
  const keys: string[] = [];
  for (let i = 0; keys.length < n; i++) {
    const key = `cus_${prefix}${i}`;
    if (shardOf(key, shards) === shard) keys.push(key);
  }
  return keys;
}

/** Runs `fn` over `items` with at most `concurrency` calls in flight; results in item order. */
export async function inParallel<T, R>(items: T[], concurrency: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const senders = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(senders);
  return results;
}

/** All rows of an integration table, by remote key. */
export async function rowsByKey(pool: pg.Pool, table: string): Promise<Map<string, any>> {
  const { rows } = await pool.query(`SELECT *, _txid::text AS _txid FROM ${table} ORDER BY stripe_id`);
  return new Map(rows.map((r) => [r.stripe_id as string, r]));
}

export async function rowOf(pool: pg.Pool, table: string, key: string): Promise<any | undefined> {
  const { rows } = await pool.query(`SELECT *, _txid::text AS _txid FROM ${table} WHERE stripe_id = $1`, [key]);
  return rows[0];
}

/** Every run (open, continued as new, …) of the workflows carrying HooksyncIntegrationId = id. */
export async function workflowsOfIntegration(client: Client, integrationId: string): Promise<WorkflowExecutionInfo[]> {
  const runs: WorkflowExecutionInfo[] = [];
  for await (const wf of client.workflow.list({ query: `HooksyncIntegrationId='${integrationId}'` })) runs.push(wf);
  return runs;
}

/** Whether an ingest workflow exists for any shard of the integration (strongly consistent, unlike list). */
export async function existingIngestWorkflows(client: Client, integrationId: string, shards: number): Promise<string[]> {
  const found: string[] = [];
  for (let shard = 0; shard < shards; shard++) {
    const id = ingestWorkflowId(integrationId, shard);
    try {
      await client.workflow.getHandle(id).describe();
      found.push(id);
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
  }
  return found;
}

/** The records carried by each `events` signal in the workflow's (current run's) history, decoded. */
export async function signalledRecords(handle: WorkflowHandle): Promise<any[][]> {
  const history = await handle.fetchHistory();
  const batches: any[][] = [];
  for (const event of history.events ?? []) {
    const attrs = event.workflowExecutionSignaledEventAttributes;
    if (!attrs || attrs.signalName !== 'events') continue;
    const payload = attrs.input?.payloads?.[0];
    batches.push(payload?.data ? JSON.parse(Buffer.from(payload.data).toString('utf8')) : []);
  }
  return batches;
}

/** The workflow's current details (setCurrentDetails), read with the SDK's built-in metadata query. */
export async function currentDetails(handle: WorkflowHandle): Promise<string> {
  const metadata = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
  return metadata?.currentDetails ?? '';
}

/** The totals row of the ingest details table: received, applied, older discarded, rejected, batches. */
export function detailsTotals(details: string): { received: number; applied: number; discarded: number; rejected: number; batches: number } | undefined {
  const m = /\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|/.exec(details);
  if (!m) return undefined;
  const [received, applied, discarded, rejected, batches] = m.slice(1).map(Number) as [number, number, number, number, number];
  return { received, applied, discarded, rejected, batches };
}

/** A TCP port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A lighter POST than fetch, for load tests: undici's request on one keep-alive pool (fetch's web
 * streams cost the test process more CPU than the API spends answering).
 */
export function fastPoster(apiUrl: string, connections = 64) {
  const pool = new Pool(apiUrl, { connections, pipelining: 1 });
  return {
    async post(integrationId: string, event: unknown, secret: string): Promise<{ status: number; body: any }> {
      const payload = JSON.stringify(event);
      const res = await pool.request({
        method: 'POST',
        path: `/v1/webhooks/${integrationId}`,
        headers: { 'content-type': 'application/json; charset=utf-8', 'stripe-signature': stripeSignature(payload, secret) },
        body: payload,
      });
      const text = await res.body.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // kept as text
      }
      return { status: res.statusCode, body };
    },
    close: () => pool.close(),
  };
}
