import net from 'node:net';
import type { Client, WorkflowExecutionInfo, WorkflowHandle } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import type pg from 'pg';
import { Pool } from 'undici';
import { shardOf } from '../../src/api/inbox-writer';
import { ingestWorkflowId } from '../../src/contract/names';
import type { IngestTotals } from '../../src/contract/ingest';
import { stripeSignature } from './stripe';
import { splice } from './sockets';

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

/** The integration's rows waiting in the inbox: key, shard and upstream time (ms), in order of arrival. */
export async function inboxRows(pool: pg.Pool, integrationId: string): Promise<Array<{ key: string; shard: number; ts: number }>> {
  const { rows } = await pool.query<{ key: string; shard: number; ts: number }>(
    `SELECT remote_key AS key, shard, (extract(epoch FROM version_at) * 1000)::float8 AS ts FROM ingest_inbox WHERE integration_id = $1 ORDER BY id`,
    [integrationId],
  );
  return rows;
}

/** The workflow's current details (setCurrentDetails), read with the SDK's built-in metadata query. */
export async function currentDetails(handle: WorkflowHandle): Promise<string> {
  const metadata = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
  return metadata?.currentDetails ?? '';
}

/** The totals row of the ingest details table: taken from the inbox, applied, older discarded, dead letters, applies, wake-ups. */
export function detailsTotals(details: string): IngestTotals | undefined {
  const m = /\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|/.exec(details);
  if (!m) return undefined;
  const [taken, applied, discarded, deadLettered, applies, wakeUps] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  return { taken, applied, discarded, deadLettered, applies, wakeUps };
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

/**
 * A TCP proxy in front of a service (Temporal), to play it going away and coming back: `down()`
 * refuses new connections and cuts the open ones; `up()` listens again on the same port.
 */
export async function tcpProxy(target: string): Promise<{ address: string; down(): Promise<void>; up(): Promise<void>; close(): Promise<void> }> {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, host);
    splice(client, upstream, sockets);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const listenPort = (server.address() as net.AddressInfo).port;
  const down = async () => {
    if (!server.listening) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    });
  };
  return {
    address: `127.0.0.1:${listenPort}`,
    down,
    up: () => (server.listening ? Promise.resolve() : new Promise<void>((resolve) => server.listen(listenPort, '127.0.0.1', resolve))),
    close: down,
  };
}

/**
 * A workflow history as text: every field, and every payload's bytes decoded as UTF-8 (payloads
 * are JSON), so that a search for a customer's email finds it wherever Temporal would keep it.
 */
export function historyText(history: unknown): string {
  const parts: string[] = [];
  const walk = (v: unknown) => {
    if (v instanceof Uint8Array) parts.push(Buffer.from(v).toString('utf8'));
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) (parts.push(k), walk(x));
    else if (v !== undefined && v !== null) parts.push(String(v));
  };
  walk(history);
  return parts.join('\n');
}
