import type pg from 'pg';
import type { Config } from '../config';
import type { TemporalHandle } from '../temporal/client';

/** What the service layer needs; the CLI and the API each build one. */
export interface ServiceDeps {
  pool: pg.Pool;
  temporal: TemporalHandle;
  config: Config;
}
