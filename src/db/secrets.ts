import type pg from 'pg';
import { columnName, SECRET_COLUMNS, type SecretColumnName } from '../secrets/columns';
import type { Keyring } from '../secrets/keyring';
import { openSecret, sealSecret } from '../secrets/stored';

type Db = pg.Pool | pg.PoolClient;

/** Whether any secret column holds a sealed value (then a process without the key must not run). */
export async function sealedSecretsExist(db: Db): Promise<boolean> {
  const sql = SECRET_COLUMNS.map((c) => `SELECT 1 FROM ${c.table} WHERE ${c.column} LIKE 'enc:%'`).join(' UNION ALL ');
  const { rows } = await db.query(`SELECT EXISTS (${sql}) AS sealed`);
  return rows[0].sealed as boolean;
}

export interface ResealCount {
  column: SecretColumnName;
  /** Values that were in clear, now sealed. */
  sealed: number;
  /** Values sealed under an older key, now under the current one. */
  resealed: number;
  /** Already under the current key. */
  unchanged: number;
  /** Sealed under a key the keyring lacks (or altered): left as they are. */
  unreadable: number;
}

/**
 * Seals every value of every secret column under the keyring's current key: clear ones (`onlyClear`
 * does just these, at start-up) and ones under older keys. Each row is updated only if it still
 * holds the value read, so a concurrent write is never overwritten with an older secret.
 */
export async function resealSecrets(db: Db, keyring: Keyring, opts: { onlyClear?: boolean } = {}): Promise<ResealCount[]> {
  const counts: ResealCount[] = [];
  for (const c of SECRET_COLUMNS) {
    const name = columnName(c);
    const count: ResealCount = { column: name, sealed: 0, resealed: 0, unchanged: 0, unreadable: 0 };
    const { rows } = await db.query<{ id: string; value: string }>(
      `SELECT ${c.key} AS id, ${c.column} AS value FROM ${c.table} WHERE ${c.column} IS NOT NULL${opts.onlyClear ? ` AND ${c.column} NOT LIKE 'enc:%'` : ''}`,
    );
    for (const row of rows) {
      const keyId = keyring.keyIdOf(row.value);
      if (keyId === keyring.currentKeyId) {
        count.unchanged++;
        continue;
      }
      let plain: string;
      try {
        plain = openSecret(keyring, name, row.id, row.value);
      } catch {
        count.unreadable++;
        continue;
      }
      const updated = await db.query(`UPDATE ${c.table} SET ${c.column} = $3 WHERE ${c.key} = $1 AND ${c.column} = $2`, [
        row.id,
        row.value,
        sealSecret(keyring, name, row.id, plain),
      ]);
      if (updated.rowCount) count[keyId === undefined ? 'sealed' : 'resealed']++;
      else count.unchanged++; // written meanwhile, under the current key
    }
    counts.push(count);
  }
  return counts;
}
