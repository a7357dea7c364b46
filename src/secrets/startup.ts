import type pg from 'pg';
import { ConfigError, type Config } from '../config';
import { resealSecrets, sealedSecretsExist } from '../db/secrets';
import type { Logger } from '../log';
import { createKeyring, type Keyring } from './keyring';

/** The keyring HOOKSYNC_ENCRYPTION_KEY describes (validated by the config already); undefined without one. */
export const keyringOf = (config: Pick<Config, 'HOOKSYNC_ENCRYPTION_KEY'>): Keyring | undefined =>
  config.HOOKSYNC_ENCRYPTION_KEY ? createKeyring(config.HOOKSYNC_ENCRYPTION_KEY) : undefined;

export const MISSING_KEY =
  'the database holds encrypted secrets, but HOOKSYNC_ENCRYPTION_KEY is not set: give this process the key they were sealed with (base64 of 32 bytes; see README, "Secrets at rest")';

/**
 * Before a process uses secrets: without a key, refuse once sealed values exist (it could read
 * none of them, and would write new ones in clear). With a key and `sealClear` (the api and the
 * worker), values an older version left in clear are sealed now.
 */
export async function prepareKeyring(config: Config, pool: pg.Pool, opts: { sealClear?: boolean; logger?: Logger } = {}): Promise<Keyring | undefined> {
  const keyring = keyringOf(config);
  if (!keyring) {
    if (await sealedSecretsExist(pool)) throw new ConfigError(MISSING_KEY);
    return undefined;
  }
  if (opts.sealClear) {
    const counts = await resealSecrets(pool, keyring, { onlyClear: true });
    const sealed = counts.filter((c) => c.sealed > 0);
    if (sealed.length > 0) opts.logger?.info({ sealed: Object.fromEntries(sealed.map((c) => [c.column, c.sealed])) }, 'secrets stored in clear are now encrypted');
  }
  return keyring;
}
