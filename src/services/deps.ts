import type pg from 'pg';
import type { Config } from '../config';
import type { Keyring } from '../secrets/keyring';
import type { TemporalHandle } from '../temporal/client';

/** What the service layer needs; the CLI and the API each build one. */
export interface ServiceDeps {
  pool: pg.Pool;
  temporal: TemporalHandle;
  config: Config;
  /** Seals and opens the secrets stored in PostgreSQL; undefined without HOOKSYNC_ENCRYPTION_KEY (they are stored in clear). */
  keyring?: Keyring;
}
