/**
 * Every column that holds a secret. Values are sealed under HOOKSYNC_ENCRYPTION_KEY (when it is
 * set) on every write, opened where they are used, re-sealed by `hooksync rotate-encryption-key`,
 * and sealed on start when an older version left them in clear. A new secret column is one more
 * line here (and `sealSecret` / `openSecret` where it is written and read).
 */
export const SECRET_COLUMNS = [
  { table: 'integrations', column: 'webhook_secret', key: 'id' },
  /** The target URL with its Basic Auth credentials; `url_masked` beside it is for display. */
  { table: 'sync_targets', column: 'url', key: 'id' },
  { table: 'sync_targets', column: 'signing_secret', key: 'id' },
  { table: 'sync_targets', column: 'signing_secret_previous', key: 'id' },
  /** The upstream API key a backfill lists with. */
  { table: 'integrations', column: 'backfill_api_key', key: 'id' },
] as const;

export type SecretColumn = (typeof SECRET_COLUMNS)[number];
export type SecretColumnName = `${SecretColumn['table']}.${SecretColumn['column']}`;

export const columnName = (c: SecretColumn): SecretColumnName => `${c.table}.${c.column}` as SecretColumnName;
