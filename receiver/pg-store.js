'use strict';

/**
 * Page ids in PostgreSQL, recorded in the transaction `onPage` runs in: the page's effects and its
 * id commit together or not at all, so a page is processed exactly once per receiver, across
 * processes and restarts. The kit loads no PostgreSQL driver: `pool` is your `pg` Pool (anything
 * with `connect()` that gives a client with `query()` and `release()`).
 */

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** `name` or `schema.name`, each part a plain identifier, quoted. */
function quoteTable(table) {
  const parts = typeof table === 'string' ? table.split('.') : [];
  if (parts.length < 1 || parts.length > 2 || !parts.every((p) => IDENTIFIER.test(p))) {
    throw new TypeError(`hooksync/receiver: pgStore's table must be a name or schema.name of letters, digits and _ (got ${JSON.stringify(table)})`);
  }
  return parts.map((p) => `"${p}"`).join('.');
}

// Two processes creating the table at once: one of them gets one of these, and the table exists.
const ALREADY_CREATED = new Set(['42P07', '23505']);

function pgStore({ pool, table = 'hooksync_received_pages' } = {}) {
  if (!pool || typeof pool.connect !== 'function') throw new TypeError('hooksync/receiver: pgStore needs { pool }, a pg Pool');
  const name = quoteTable(table);
  let ready;
  const createTable = async () => {
    await pool
      .query(`CREATE TABLE IF NOT EXISTS ${name} (page_id text PRIMARY KEY, processed_at timestamptz NOT NULL DEFAULT now())`)
      .catch((err) => {
        if (!ALREADY_CREATED.has(err.code)) throw err;
      });
  };

  return {
    async once(pageId, process) {
      ready ??= createTable().catch((err) => {
        ready = undefined;
        throw err;
      });
      await ready;
      const client = await pool.connect();
      let broken;
      try {
        await client.query('BEGIN');
        // While another transaction holds this id uncommitted (a copy being processed, here or in
        // another process), the insert waits for it; then it conflicts if that one committed.
        const claimed = await client.query(`INSERT INTO ${name} (page_id) VALUES ($1) ON CONFLICT (page_id) DO NOTHING`, [pageId]);
        if (claimed.rowCount === 0) {
          await client.query('ROLLBACK');
          return 'duplicate';
        }
        await process(client);
        // PostgreSQL answers COMMIT of a failed transaction (an error onPage caught) with a rollback.
        const committed = await client.query('COMMIT');
        if (committed.command !== 'COMMIT') throw new Error('the transaction was rolled back: a statement in onPage failed');
        return 'processed';
      } catch (err) {
        await client.query('ROLLBACK').catch((e) => {
          broken = e;
        });
        throw err;
      } finally {
        client.release(broken);
      }
    },
  };
}

module.exports = { pgStore, quoteTable };
