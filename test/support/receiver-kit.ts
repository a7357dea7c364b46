import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { Webhook } from 'standardwebhooks';

/** Helpers of the test/receiver*.test.ts files: pages signed as hooksync signs them, and servers to post them to. */

export const newSecret = () => `whsec_${crypto.randomBytes(32).toString('base64')}`;

export interface SignedPost {
  body: string;
  headers: Record<string, string>;
}

export function pageBody(rows: object[], extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ rows, integration_id: 'svi_test', integration_service: 'stripe_customer_v1', table: 'stripe_customer_v1_test', sync_timestamp: new Date().toISOString(), ...extra });
}

/** A POST as hooksync sends it: `body` signed with each of `secrets` under `id`, at `at`. */
export function signed(body: string, secrets: string | string[], opts: { id?: string; at?: Date } = {}): SignedPost {
  const id = opts.id ?? `hst_test:${crypto.randomBytes(4).toString('hex')}`;
  const at = new Date(Math.floor((opts.at ?? new Date()).getTime() / 1000) * 1000);
  const list = Array.isArray(secrets) ? secrets : [secrets];
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(at.getTime() / 1000),
      'webhook-signature': list.map((s) => new Webhook(s).sign(id, at, body)).join(' '),
    },
  };
}

/** A page of `n` rows, signed. */
export const signedPage = (secret: string | string[], n = 2, opts: { id?: string; at?: Date } = {}) =>
  signed(pageBody(Array.from({ length: n }, (_, i) => ({ stripe_id: `cus_${i}`, data: { i } }))), secret, opts);

export async function post(url: string, p: SignedPost): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { method: 'POST', headers: p.headers, body: p.body });
  return { status: res.status, text: await res.text() };
}

/** A plain-http server on 127.0.0.1 for a handler; resolves with its URL and a close(). */
export async function serve(handler: (req: http.IncomingMessage, res: http.ServerResponse) => unknown): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => void handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooksync`,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A gate that onPage can wait on: `opened` resolves once `open()` is called. */
export function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** A schema of its own (search_path) in the tests' database, as another application's database would be. */
export async function ownSchema(prefix: string): Promise<{ name: string; pool(max?: number): pg.Pool; drop(): Promise<void> }> {
  const base = process.env.DATABASE_URL;
  if (!base) throw new Error('DATABASE_URL not set: run the tests with `npm test`');
  const name = `${prefix}_${crypto.randomBytes(4).toString('hex')}`;
  const admin = new pg.Pool({ connectionString: base, max: 1 });
  await admin.query(`CREATE SCHEMA ${name}`);
  const pools: pg.Pool[] = [];
  const url = new URL(base);
  url.searchParams.set('options', `-c search_path=${name}`);
  return {
    name,
    pool(max = 5) {
      const p = new pg.Pool({ connectionString: url.toString(), max });
      pools.push(p);
      return p;
    },
    async drop() {
      await Promise.allSettled(pools.map((p) => p.end()));
      await admin.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`).catch(() => {});
      await admin.end();
    },
  };
}
