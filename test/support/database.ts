import crypto from 'node:crypto';
import pg from 'pg';
import { migrate } from '../../src/db/migrate';
import { startEmbeddedPostgres } from '../../src/dev/embedded-postgres';

const LOCAL_SERVER = 'postgres://postgres@127.0.0.1:5432/postgres';

/** The server's version, or undefined when it does not answer. */
export async function serverVersion(url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    const { rows } = await client.query<{ v: string }>("SELECT current_setting('server_version') AS v");
    return rows[0]!.v;
  } catch {
    return undefined;
  } finally {
    await client.end().catch(() => {});
  }
}

export interface Server {
  /** A URL of the server's `postgres` database, to create and drop databases with. */
  adminUrl: string;
  /** Where it runs, as a person reads it: "DATABASE_URL", "local server" or "embedded". */
  source: string;
  version: string;
  /** Stops an embedded server (undefined for the others, which are not ours to stop). */
  stop?: () => Promise<void>;
}

/**
 * The PostgreSQL server tests and benchmarks make their databases on: DATABASE_URL's, the local
 * one on 127.0.0.1:5432 (unless `local: false`), or else an embedded one kept in `embeddedDir`.
 */
export async function findServer(opts: { embeddedDir: string; local?: boolean; log: (msg: string) => void }): Promise<Server> {
  const given = process.env.DATABASE_URL;
  if (given) {
    const version = await serverVersion(given);
    if (!version) throw new Error('DATABASE_URL is set but its server does not answer');
    return { adminUrl: given, source: 'DATABASE_URL', version };
  }
  const local = opts.local === false ? undefined : await serverVersion(LOCAL_SERVER);
  if (local) return { adminUrl: LOCAL_SERVER, source: 'local server', version: local };
  const embedded = await startEmbeddedPostgres({ dir: opts.embeddedDir, log: opts.log });
  return { adminUrl: embedded.url, source: 'embedded', version: (await serverVersion(embedded.url)) ?? '?', stop: embedded.stop };
}

export interface Database {
  url: string;
  name: string;
  /** Drops it, ending the sessions a killed process may have left in it. */
  drop(): Promise<void>;
}

/** A new database `<prefix>_<random hex>` on `adminUrl`'s server, with hooksync's migrations applied. */
export async function createDatabase(adminUrl: string, prefix: string, bytes = 4): Promise<Database> {
  const name = `${prefix}_${crypto.randomBytes(bytes).toString('hex')}`;
  await withAdmin(adminUrl, (admin) => admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: 1 });
  try {
    await migrate(pool);
  } finally {
    await pool.end();
  }
  return { url: url.toString(), name, drop: () => dropDatabase(adminUrl, name) };
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  await withAdmin(adminUrl, async (admin) => {
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
    await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(name)}`);
  });
}

export async function withAdmin<T>(adminUrl: string, fn: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.end();
  }
}

export interface Schema {
  /** `databaseUrl` with `search_path` set to the schema: what the processes under test connect to. */
  url: string;
  name: string;
  /** A pool on the database itself, for checks across schemas (`<schema>.<table>`). */
  admin: pg.Pool;
  drop(): Promise<void>;
}

/**
 * A schema `<prefix>_<random hex>` of its own in `databaseUrl`'s database, with hooksync's
 * migrations applied in it: a test file that checks "nothing was created" sees only its own rows.
 */
export async function migratedSchema(databaseUrl: string, prefix: string): Promise<Schema> {
  const name = `${prefix}_${crypto.randomBytes(4).toString('hex')}`;
  const admin = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  await admin.query(`CREATE SCHEMA ${name}`);
  const url = new URL(databaseUrl);
  url.searchParams.set('options', `-c search_path=${name}`);
  const migrator = new pg.Pool({ connectionString: url.toString(), max: 1 });
  try {
    await migrate(migrator);
  } finally {
    await migrator.end();
  }
  const drop = async () => {
    await admin.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`).catch(() => {});
    await admin.end();
  };
  return { url: url.toString(), name, admin, drop };
}
