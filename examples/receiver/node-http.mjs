// A receiver on node:http that stores each page's rows in your PostgreSQL, exactly once: the
// rows and the page id commit in one transaction (pgStore).
//   HOOKSYNC_SIGNING_SECRET=whsec_… DATABASE_URL=postgres://… node examples/receiver/node-http.mjs
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { createReceiver, pgStore } from 'hooksync/receiver';

/** Keeps each customer's newest version; `client` is in the transaction that records the page. */
export async function saveCustomers(page, { client }) {
  await client.query('CREATE TABLE IF NOT EXISTS customers (stripe_id text PRIMARY KEY, email text, deleted boolean NOT NULL, data jsonb NOT NULL)');
  for (const row of page.rows) {
    await client.query(
      `INSERT INTO customers (stripe_id, email, deleted, data) VALUES ($1, $2, $3, $4)
       ON CONFLICT (stripe_id) DO UPDATE SET email = EXCLUDED.email, deleted = EXCLUDED.deleted, data = EXCLUDED.data`,
      [row.stripe_id, row.email, row.deleted, row.data],
    );
  }
}

export function createHandler({ secrets, pool, onPage = saveCustomers }) {
  return createReceiver({ secrets, onPage, store: pgStore({ pool, table: 'hooksync_received_pages' }) });
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
  // Both secrets while `httpsync rotate-signing-secret` overlaps them: HOOKSYNC_SIGNING_SECRET="whsec_new whsec_old".
  const secrets = (process.env.HOOKSYNC_SIGNING_SECRET ?? '').split(' ').filter(Boolean);
  http.createServer(createHandler({ secrets, pool })).listen(Number(process.env.PORT ?? 3000));
}
